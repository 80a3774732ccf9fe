"""The admins' JSON API for integrations (``/api/admin/integrations``) and the page
(``/admin/integrations``): tokens (made, shown once, revoked), webhooks (added with a secret shown
once, removed) and the delivery log (status, attempts, last result; sent again on request). The
page's forms call the same ``integrations.actions`` as the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field

import handoff
from core.web import TEMPLATES, DbInt, app_state
from handoff.admin_pages import AdminUser, back_to, base_context, field, page_language, read_form
from handoff.auth import CurrentUser, csrf_protected, require_roles
from handoff.models import Role, User
from insights.display import Display
from integrations import actions, tokens, webhooks
from integrations.models import IntegrationToken, WebhookDelivery
from integrations.texts import TEXTS, refusal

router = APIRouter(prefix="/api/admin/integrations", tags=["admin"], dependencies=[Depends(require_roles(Role.ADMIN))])
pages = APIRouter(include_in_schema=False)
HANDOFF_TEMPLATES = FilePath(handoff.__file__).parent / "templates"  # admin_page.html, the admin pages' frame
# This page's template, then the admin pages' frame (handoff) and the design system's base page (core).
templates = Jinja2Templates(
    env=Environment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(FilePath(__file__).parent / "templates"),
                FileSystemLoader(HANDOFF_TEMPLATES),
                FileSystemLoader(TEMPLATES),
            ]
        ),
        autoescape=select_autoescape(["html"]),
    )
)
Id = Annotated[DbInt, Path()]


class TokenOut(BaseModel):
    id: int
    name: str
    hint: str
    scopes: list[str]
    created_by: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewTokenOut(TokenOut):
    token: str = Field(description="the token itself: shown this once, never again")


class TokenIn(BaseModel):
    name: str = Field(max_length=200)
    scopes: list[str] = Field(max_length=20, description=f"of {', '.join(tokens.SCOPES)}")


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    created_by: str | None
    created_at: datetime


class NewWebhookOut(WebhookOut):
    secret: str = Field(description="signs every delivery (X-Balcao-Signature): shown this once")


class WebhookIn(BaseModel):
    url: str = Field(max_length=2000)
    events: list[str] = Field(max_length=20, description=f"of {', '.join(webhooks.EVENTS)}")


class DeliveryOut(BaseModel):
    id: int
    endpoint_id: int
    event_id: str
    event_type: str
    conversation_id: str | None
    status: str
    attempts: int
    attempt_limit: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class AttemptOut(BaseModel):
    number: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryDetailOut(DeliveryOut):
    body: str
    attempt_log: list[AttemptOut]


def _refused(exc: Exception) -> HTTPException:
    return HTTPException(actions.refusal_status(exc), str(exc))


def _token_out(row: IntegrationToken) -> TokenOut:
    return TokenOut.model_validate(row, from_attributes=True)


@router.get("/tokens", response_model=list[TokenOut])
async def api_tokens(request: Request) -> list[TokenOut]:
    """Every token (never the token itself: only its first characters)."""
    async with app_state(request).read_sessions() as session:
        return [_token_out(r) for r in await tokens.list_tokens(session)]


@router.post("/tokens", response_model=NewTokenOut, status_code=201, dependencies=[Depends(csrf_protected)])
async def api_create_token(request: Request, body: TokenIn, user: CurrentUser) -> NewTokenOut:
    """Make a token with a name and scopes; the answer holds the token, this once."""
    try:
        row, token = await actions.do_create_token(request, user, name=body.name, scopes=body.scopes)
    except actions.REFUSALS as exc:
        raise _refused(exc) from exc
    return NewTokenOut(**_token_out(row).model_dump(), token=token)


@router.post("/tokens/{token_id}/revoke", response_model=TokenOut, dependencies=[Depends(csrf_protected)])
async def api_revoke_token(request: Request, token_id: Id, user: CurrentUser) -> TokenOut:
    """Revoke a token: every request with it is refused from now on (401)."""
    try:
        return _token_out(await actions.do_revoke_token(request, user, token_id))
    except actions.REFUSALS as exc:
        raise _refused(exc) from exc


@router.get("/webhooks", response_model=list[WebhookOut])
async def api_webhooks(request: Request) -> list[WebhookOut]:
    """Every webhook endpoint (never its secret)."""
    async with app_state(request).read_sessions() as session:
        return [WebhookOut.model_validate(e, from_attributes=True) for e in await webhooks.list_endpoints(session)]


@router.post("/webhooks", response_model=NewWebhookOut, status_code=201, dependencies=[Depends(csrf_protected)])
async def api_add_webhook(request: Request, body: WebhookIn, user: CurrentUser) -> NewWebhookOut:
    """Add an endpoint for the chosen events; the answer holds its signing secret, this once."""
    try:
        endpoint = await actions.do_add_webhook(request, user, url=body.url, events=body.events)
    except actions.REFUSALS as exc:
        raise _refused(exc) from exc
    return NewWebhookOut(**WebhookOut.model_validate(endpoint, from_attributes=True).model_dump(), secret=endpoint.secret)


@router.delete("/webhooks/{webhook_id}", status_code=204, dependencies=[Depends(csrf_protected)])
async def api_remove_webhook(request: Request, webhook_id: Id, user: CurrentUser) -> Response:
    """Remove an endpoint and its delivery log."""
    try:
        await actions.do_remove_webhook(request, user, webhook_id)
    except actions.REFUSALS as exc:
        raise _refused(exc) from exc
    return Response(status_code=204)


@router.get("/deliveries", response_model=list[DeliveryOut])
async def api_deliveries(request: Request, webhook_id: DbInt | None = None) -> list[DeliveryOut]:
    """The delivery log, newest first (the last 50; of one endpoint with ``webhook_id``)."""
    async with app_state(request).read_sessions() as session:
        rows = await webhooks.list_deliveries(session, endpoint_id=webhook_id)
    return [DeliveryOut.model_validate(r, from_attributes=True) for r in rows]


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetailOut)
async def api_delivery(request: Request, delivery_id: Id) -> DeliveryDetailOut:
    """One delivery: the body sent and every attempt."""
    async with app_state(request).read_sessions() as session:
        row = await session.get(WebhookDelivery, delivery_id)
        if row is None:
            raise HTTPException(404, "there is no such delivery")
        attempts = await webhooks.delivery_attempts(session, delivery_id)
    return DeliveryDetailOut(
        **DeliveryOut.model_validate(row, from_attributes=True).model_dump(),
        body=row.body,
        attempt_log=[AttemptOut.model_validate(a, from_attributes=True) for a in attempts],
    )


@router.post("/deliveries/{delivery_id}/redeliver", response_model=DeliveryOut, dependencies=[Depends(csrf_protected)])
async def api_redeliver(request: Request, delivery_id: Id, user: CurrentUser) -> DeliveryOut:
    """Send a delivery again now (409 while an attempt at it is under way)."""
    try:
        return DeliveryOut.model_validate(await actions.do_redeliver(request, user, delivery_id), from_attributes=True)
    except actions.REFUSALS as exc:
        raise _refused(exc) from exc


# -- the page ---------------------------------------------------------------------------------------


async def _page(
    request: Request,
    user: User,
    lang: str,
    *,
    shown: tuple[str, str, str] | None = None,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    """The page; ``shown`` is (kind, name, secret) of a token or webhook just made (shown this once)."""
    async with app_state(request).read_sessions() as session:
        token_rows = await tokens.list_tokens(session)
        endpoints = await webhooks.list_endpoints(session)
        deliveries = await webhooks.list_deliveries(session)
    urls = {e.id: e.url for e in endpoints}
    context = base_context(
        request,
        user,
        lang,
        t=TEXTS[lang],
        tokens=token_rows,
        endpoints=endpoints,
        deliveries=deliveries,
        urls=urls,
        scopes=tokens.SCOPES,
        events=webhooks.EVENTS,
        shown=shown,
        notice=notice,
        error=error,
        display=Display(lang, app_state(request).settings.report_timezone),  # type: ignore[arg-type]  # lang is one of LANGUAGES
    )
    return templates.TemplateResponse(request, "admin_integrations.html", context, status_code=status)


DONE = {"revoked": "token_revoked", "removed": "webhook_removed", "redelivered": "redelivered"}


@pages.get("/admin/integrations", response_class=HTMLResponse)
async def integrations_page(request: Request, user: AdminUser) -> Response:
    """Tokens, webhooks and the delivery log."""
    lang = page_language(request)
    done = DONE.get(request.query_params.get("done", ""))
    return await _page(request, user, lang, notice=TEXTS[lang][done] if done else None)


async def _then_back(request: Request, user: User, do: Callable[[], Awaitable[object]], *, done: str) -> Response:
    """Do what the form asks, then back to the page saying so (or the page with the reason it was refused)."""
    form = await read_form(request)
    lang = page_language(request, form)
    try:
        await do()
    except actions.REFUSALS as exc:
        return await _page(request, user, lang, error=refusal(lang, exc), status=actions.refusal_status(exc))
    return back_to("/admin/integrations", lang, done=done)


@pages.post("/admin/integrations/tokens")
async def create_token_form(request: Request, user: AdminUser) -> Response:
    """The new token, shown on the page this once (or the reason it was refused)."""
    form = await read_form(request)
    lang = page_language(request, form)
    scopes = [s for s in form.getlist("scopes") if isinstance(s, str)][:20]
    try:
        row, token = await actions.do_create_token(request, user, name=field(form, "name"), scopes=scopes)
    except actions.REFUSALS as exc:
        return await _page(request, user, lang, error=refusal(lang, exc), status=actions.refusal_status(exc))
    return await _page(request, user, lang, shown=("token", row.name, token), status=201)


@pages.post("/admin/integrations/tokens/{token_id}/revoke")
async def revoke_token_form(request: Request, token_id: Id, user: AdminUser) -> Response:
    """Revoke, then back to the page saying so."""
    return await _then_back(request, user, lambda: actions.do_revoke_token(request, user, token_id), done="revoked")


@pages.post("/admin/integrations/webhooks")
async def add_webhook_form(request: Request, user: AdminUser) -> Response:
    """The new webhook's secret, shown on the page this once (or the reason it was refused)."""
    form = await read_form(request)
    lang = page_language(request, form)
    events = [e for e in form.getlist("events") if isinstance(e, str)][:20]
    try:
        endpoint = await actions.do_add_webhook(request, user, url=field(form, "url"), events=events)
    except actions.REFUSALS as exc:
        return await _page(request, user, lang, error=refusal(lang, exc), status=actions.refusal_status(exc))
    return await _page(request, user, lang, shown=("webhook", endpoint.url, endpoint.secret), status=201)


@pages.post("/admin/integrations/webhooks/{webhook_id}/remove")
async def remove_webhook_form(request: Request, webhook_id: Id, user: AdminUser) -> Response:
    """Remove, then back to the page saying so."""
    return await _then_back(request, user, lambda: actions.do_remove_webhook(request, user, webhook_id), done="removed")


@pages.post("/admin/integrations/deliveries/{delivery_id}/redeliver")
async def redeliver_form(request: Request, delivery_id: Id, user: AdminUser) -> Response:
    """Send again, then back to the page saying so."""
    return await _then_back(request, user, lambda: actions.do_redeliver(request, user, delivery_id), done="redelivered")


__all__ = ["pages", "router"]
