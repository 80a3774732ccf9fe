"""The admin's privacy API (LGPD / GDPR): find a customer, export their data as a zip, erase it,
and read or set the retention policy. Admins only; changes need the CSRF token, as every admin
route (``handoff.admin_routes``). Each export and erasure is in the audit log."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from core.web import app_state
from desk.privacy import (
    MAX_RETENTION_DAYS,
    Anonymised,
    CustomerRef,
    UnknownCustomer,
    erase_customer,
    find_customer,
    remove_files,
    retention_days,
    run_retention,
    set_retention,
)
from desk.privacy_export import collect_customer_data, write_archive
from handoff import Role, User
from handoff.audit import AuditAction, AuditClient, audit_request
from handoff.auth import CurrentUser, DbSession, csrf_protected, require_roles

router = APIRouter(prefix="/api/admin/privacy", tags=["privacy"], dependencies=[Depends(require_roles(Role.ADMIN))])

CustomerQuery = Annotated[
    str,
    Query(min_length=1, max_length=120, description="a conversation id, phone number, Telegram id or @username, or customer id"),
]


class CustomerOut(BaseModel):
    channel: str
    customer_id: str


class EraseIn(BaseModel):
    customer: str = Field(min_length=1, max_length=120, description="as for the search")


class ErasedOut(BaseModel):
    conversations: int
    messages: int
    files: int


class RetentionIn(BaseModel):
    days: int | None = Field(
        None, ge=1, le=MAX_RETENTION_DAYS, description="anonymise conversations older than this; null keeps all"
    )


class RetentionOut(BaseModel):
    days: int | None


class RetentionRunOut(RetentionOut):
    conversations: int
    messages: int
    files: int


async def _refs(session: DbSession, query: str) -> list[CustomerRef]:
    try:
        return await find_customer(session, query)
    except UnknownCustomer as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get("/customers", response_model=list[CustomerOut])
async def customers(customer: CustomerQuery, session: DbSession) -> list[CustomerOut]:
    """The customers a search names (one per channel); 404 with what to search by when none."""
    return [CustomerOut(channel=r.channel, customer_id=r.customer_id) for r in await _refs(session, customer)]


@router.get("/export", response_class=Response, responses={200: {"content": {"application/zip": {}}}})
async def export(customer: CustomerQuery, request: Request, session: DbSession, user: CurrentUser) -> Response:
    """Everything stored about a customer as one zip (``customer.json`` and ``files/``); audited."""
    data = await collect_customer_data(session, await _refs(session, customer))
    archive = await asyncio.to_thread(write_archive, data, app_state(request).media)
    await audit_request(
        request,
        actor=user.id,
        action=AuditAction.CUSTOMER_EXPORT,
        target_type="customer",
        target_id=", ".join(data.conversation_ids[:5]) or None,
        details={"conversations": len(data.conversation_ids), "files": len(set(data.media_ids)), "bytes": len(archive)},
    )
    return Response(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="customer-data.zip"', "Cache-Control": "no-store"},
    )


@router.post("/erase", response_model=ErasedOut, dependencies=[Depends(csrf_protected)])
async def erase(body: EraseIn, request: Request, user: CurrentUser) -> ErasedOut:
    """Erase a customer on request: their conversations anonymised (the KPIs kept), their records
    and files removed; audited. 404 for a search that names nobody (nothing is changed)."""
    try:
        done = await do_erase_customer(request, user, body.customer)
    except UnknownCustomer as exc:
        raise HTTPException(404, str(exc)) from exc
    return ErasedOut(conversations=len(done.conversations), messages=done.messages, files=len(done.media_ids))


async def do_erase_customer(request: Request, user: User, query: str) -> Anonymised:
    """Erase the customers ``query`` names (the API's and the privacy page's one way): one unit of
    work with its audit entry, then their files removed. Raises ``UnknownCustomer``, nothing changed."""
    state = app_state(request)
    async with state.desk.unit_of_work() as session:
        refs = await find_customer(session, query)
        done = await erase_customer(session, refs, actor=user, client=AuditClient.of(request))
    await remove_files(state.media, done.media_ids)
    return done


@router.get("/retention", response_model=RetentionOut)
async def retention(session: DbSession) -> RetentionOut:
    """The retention policy in force (``days: null``: everything is kept)."""
    return RetentionOut(days=await retention_days(session))


@router.put("/retention", response_model=RetentionOut, dependencies=[Depends(csrf_protected)])
async def change_retention(body: RetentionIn, request: Request, user: CurrentUser) -> RetentionOut:
    """Set the retention policy (audited); the hub's retention job applies it."""
    async with app_state(request).desk.unit_of_work() as session:
        await set_retention(session, body.days, actor=user, client=AuditClient.of(request))
    return RetentionOut(days=body.days)


@router.post("/retention/run", response_model=RetentionRunOut, dependencies=[Depends(csrf_protected)])
async def run_retention_now(request: Request, user: CurrentUser) -> RetentionRunOut:
    """Apply the retention policy now instead of at the job's next pass."""
    state = app_state(request)
    run = await run_retention(state.desk.unit_of_work, state.media, actor=user)
    return RetentionRunOut(days=run.days, conversations=run.conversations, messages=run.messages, files=run.files)
