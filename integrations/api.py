"""The HTTP API for a CRM or an order system (``/api/v1``): conversations, their messages,
customers and survey answers, read with a token (``Authorization: Bearer blc_…``) whose scopes
open the routes it needs. No token, a wrong or a revoked one: 401. A scope the token lacks: 403.
Too many requests (the hub's per-address and per-token limits): 429. Private notes are never
served."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import and_, or_, select

from connectors.models import ChannelCustomer
from core.web import app_state
from handoff.models import Conversation, Message, State
from insights.models import Survey
from integrations.models import IntegrationToken
from integrations.state import integrations_of
from integrations.tokens import find_token, needs_last_used, note_used

router = APIRouter(prefix="/api/v1", tags=["integrations"])
_bearer = HTTPBearer(auto_error=False, description="an integration token made on /admin/integrations")
UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text holds no NUL: refused as bad input (422), not a database error
Limit = Annotated[int, Query(ge=1, le=200, description="how many at most (1–200)")]
Cursor = Annotated[str | None, Query(max_length=200, pattern=NO_NUL, description="next_cursor of the previous page")]


def scoped(scope: str) -> Callable[..., Awaitable[IntegrationToken]]:
    """Dependency: the request's token, live and holding ``scope`` (401, 403 or 429 otherwise)."""

    async def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> IntegrationToken:
        state, limits = app_state(request), app_state(request).rate_limits
        if not await limits.allow(ip=limits.client_ip(request)):
            raise HTTPException(429, "too many requests: slow down", headers={"Retry-After": "5"})
        if credentials is None:
            raise HTTPException(401, "send an integration token: Authorization: Bearer blc_…", headers=UNAUTHORIZED)
        async with state.read_sessions() as session:
            token = await find_token(session, credentials.credentials, integrations_of(request).token_key)
        if token is None:
            raise HTTPException(401, "this token is unknown or was revoked", headers=UNAUTHORIZED)
        if scope not in (token.scopes or []):
            raise HTTPException(403, f"this token lacks the scope {scope}")
        if not await limits.allow(customer=f"api-token:{token.id}"):
            raise HTTPException(429, "too many requests for this token: slow down", headers={"Retry-After": "5"})
        if needs_last_used(token):
            async with state.desk.unit_of_work() as session:
                await note_used(session, token.id)
        return token

    return check


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    try:
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError as exc:  # a date at the calendar's edge with an offset
        raise HTTPException(422, "give a date between the years 2 and 9998") from exc


def _encode(*parts: str) -> str:
    return base64.urlsafe_b64encode("\x1f".join(parts).encode()).decode().rstrip("=")


def _decode(cursor: str, count: int) -> list[str]:
    try:
        parts = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("\x1f")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        parts = []
    if len(parts) != count or any("\x00" in p for p in parts):
        raise HTTPException(400, "this cursor is not one the API gave: start again without it")
    return parts


class ConversationOut(BaseModel):
    """A conversation as an integration sees it."""

    id: str
    channel: str
    customer_id: str
    customer_name: str | None
    language: str
    state: State
    team_id: str | None
    agent_id: int | None
    escalation_reason: str | None
    created_at: datetime
    queued_at: datetime | None
    last_message_at: datetime | None
    ended_at: datetime | None


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None


class MessageOut(BaseModel):
    """A message the customer saw or sent (private notes are never served)."""

    id: int
    sender: str
    agent_id: int | None
    text: str
    channel: str
    created_at: datetime


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None


class CustomerOut(BaseModel):
    """A customer as their channel knows them."""

    channel: str
    customer_id: str
    name: str | None
    username: str | None
    language: str | None
    first_seen_at: datetime
    last_seen_at: datetime


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    next_cursor: str | None


class SurveyOut(BaseModel):
    """A conversation's NPS survey: asked, and its answer (score 0–10) when given."""

    conversation_id: str
    channel: str
    language: str
    team_id: str | None
    agent_id: int | None
    ending: str
    asked_at: datetime
    answered_at: datetime | None
    score: int | None
    reason: str | None


class SurveyPage(BaseModel):
    items: list[SurveyOut]
    next_cursor: str | None


@router.get("/conversations", response_model=ConversationPage)
async def list_conversations(
    request: Request,
    _: Annotated[IntegrationToken, Depends(scoped("conversations:read"))],
    since: Annotated[datetime | None, Query(description="started at or after (ISO 8601)")] = None,
    state: State | None = None,
    channel: Annotated[str | None, Query(max_length=20, pattern=NO_NUL)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ConversationPage:
    """Conversations, oldest first, filtered by start, state and channel; page with ``cursor``."""
    stmt = select(Conversation).order_by(Conversation.created_at, Conversation.id).limit(limit + 1)
    if (start := _utc(since)) is not None:
        stmt = stmt.where(Conversation.created_at >= start)
    if state is not None:
        stmt = stmt.where(Conversation.state == state)
    if channel:
        stmt = stmt.where(Conversation.channel == channel)
    if cursor:
        at_text, last_id = _decode(cursor, 2)
        try:
            at = datetime.fromisoformat(at_text)
        except ValueError as exc:
            raise HTTPException(400, "this cursor is not one the API gave: start again without it") from exc
        stmt = stmt.where(or_(Conversation.created_at > at, and_(Conversation.created_at == at, Conversation.id > last_id)))
    async with app_state(request).read_sessions() as session:
        rows = (await session.execute(stmt)).scalars().all()
    items = [ConversationOut.model_validate(r, from_attributes=True) for r in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return ConversationPage(items=items, next_cursor=_encode(last.created_at.isoformat(), last.id) if last else None)


ConversationId = Annotated[str, Path(max_length=36, pattern=NO_NUL)]


@router.get("/conversations/{conversation_id}", response_model=ConversationOut)
async def read_conversation(
    request: Request, conversation_id: ConversationId, _: Annotated[IntegrationToken, Depends(scoped("conversations:read"))]
) -> ConversationOut:
    """One conversation (404 when there is none with this id)."""
    async with app_state(request).read_sessions() as session:
        row = await session.get(Conversation, conversation_id)
    if row is None:
        raise HTTPException(404, "there is no conversation with this id")
    return ConversationOut.model_validate(row, from_attributes=True)


@router.get("/conversations/{conversation_id}/messages", response_model=MessagePage)
async def list_messages(
    request: Request,
    conversation_id: ConversationId,
    _: Annotated[IntegrationToken, Depends(scoped("messages:read"))],
    limit: Limit = 100,
    cursor: Cursor = None,
) -> MessagePage:
    """A conversation's messages in order, without private notes; page with ``cursor``."""
    stmt = (
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.internal.is_(False))
        .order_by(Message.id)
        .limit(limit + 1)
    )
    if cursor:
        (after,) = _decode(cursor, 1)
        if not (after.isascii() and after.isdigit() and len(after) < 12):
            raise HTTPException(400, "this cursor is not one the API gave: start again without it")
        stmt = stmt.where(Message.id > int(after))
    async with app_state(request).read_sessions() as session:
        if await session.get(Conversation, conversation_id) is None:
            raise HTTPException(404, "there is no conversation with this id")
        rows = (await session.execute(stmt)).scalars().all()
    items = [MessageOut.model_validate(r, from_attributes=True) for r in rows[:limit]]
    return MessagePage(items=items, next_cursor=_encode(str(rows[limit - 1].id)) if len(rows) > limit else None)


@router.get("/customers", response_model=CustomerPage)
async def list_customers(
    request: Request,
    _: Annotated[IntegrationToken, Depends(scoped("customers:read"))],
    channel: Annotated[str | None, Query(max_length=20, pattern=NO_NUL)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> CustomerPage:
    """Customers by channel and id; page with ``cursor``."""
    stmt = select(ChannelCustomer).order_by(ChannelCustomer.channel, ChannelCustomer.customer_id).limit(limit + 1)
    if channel:
        stmt = stmt.where(ChannelCustomer.channel == channel)
    if cursor:
        last_channel, last_id = _decode(cursor, 2)
        stmt = stmt.where(
            or_(
                ChannelCustomer.channel > last_channel,
                and_(ChannelCustomer.channel == last_channel, ChannelCustomer.customer_id > last_id),
            )
        )
    async with app_state(request).read_sessions() as session:
        rows = (await session.execute(stmt)).scalars().all()
    items = [CustomerOut.model_validate(r, from_attributes=True) for r in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return CustomerPage(items=items, next_cursor=_encode(last.channel, last.customer_id) if last else None)


@router.get("/customers/{channel}/{customer_id}", response_model=CustomerOut)
async def read_customer(
    request: Request,
    channel: Annotated[str, Path(max_length=20, pattern=NO_NUL)],
    customer_id: Annotated[str, Path(max_length=64, pattern=NO_NUL)],
    _: Annotated[IntegrationToken, Depends(scoped("customers:read"))],
) -> CustomerOut:
    """One customer (404 when the channel knows no such customer)."""
    async with app_state(request).read_sessions() as session:
        row = await session.get(ChannelCustomer, (channel, customer_id))
    if row is None:
        raise HTTPException(404, "there is no such customer")
    return CustomerOut.model_validate(row, from_attributes=True)


@router.get("/surveys", response_model=SurveyPage)
async def list_survey_answers(
    request: Request,
    _: Annotated[IntegrationToken, Depends(scoped("surveys:read"))],
    since: Annotated[datetime | None, Query(description="asked at or after (ISO 8601)")] = None,
    answered: Annotated[bool | None, Query(description="only answered (true) or unanswered (false) ones")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> SurveyPage:
    """NPS surveys in the order they were asked, with their answers; page with ``cursor``."""
    stmt = select(Survey).order_by(Survey.id).limit(limit + 1)
    if (start := _utc(since)) is not None:
        stmt = stmt.where(Survey.asked_at >= start)
    if answered is not None:
        stmt = stmt.where(Survey.answered_at.is_not(None) if answered else Survey.answered_at.is_(None))
    if cursor:
        (after,) = _decode(cursor, 1)
        if not (after.isascii() and after.isdigit() and len(after) < 12):
            raise HTTPException(400, "this cursor is not one the API gave: start again without it")
        stmt = stmt.where(Survey.id > int(after))
    async with app_state(request).read_sessions() as session:
        rows = (await session.execute(stmt)).scalars().all()
    items = [SurveyOut.model_validate(r, from_attributes=True) for r in rows[:limit]]
    return SurveyPage(items=items, next_cursor=_encode(str(rows[limit - 1].id)) if len(rows) > limit else None)
