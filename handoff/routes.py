"""The agents' console: its page, JSON API and live WebSocket. Routes parse the request and check
access; every change is one handoff function inside one unit of work."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

import handoff
import insights
from connectors import customers, outbox
from connectors.media import MediaRefused, MediaStore, check_media, safe_name
from core.security import allowed_origin
from core.web import AgentConnection, DbInt, app_state, page_templates, receive_text_frame
from handoff import Conversation, Message, Role, User
from handoff.audit import AuditAction, AuditClient, record_audit
from handoff.auth import (
    ONE_TIME_REFUSAL,
    Agent,
    DbSession,
    accessible_conversation,
    csrf_protected,
    csrf_token,
    page_user,
    require_roles,
    session_user,
)
from handoff.console_texts import console_texts

api = APIRouter(prefix="/api/agent", tags=["agents"])
pages = APIRouter(include_in_schema=False)
templates = page_templates(Path(__file__).parent / "templates")
MAX_REPLY_CHARS = 4000
SESSION_ENDED = 4401  # the console's WebSocket closes with this when the user's sessions end (console.js: to the login page)
Supervisor = Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))
ConsoleUser = Annotated[
    User, Depends(page_user(Role.AGENT, Role.SUPERVISOR, Role.ADMIN, refusal="the console is for agents and supervisors"))
]


T = TypeVar("T")


class ConversationOut(BaseModel):
    id: str
    channel: str
    customer_id: str
    customer_name: str | None
    language: str
    state: str
    team_id: str | None
    agent_id: int | None
    priority: int
    escalation_reason: str | None
    queued_at: datetime | None
    created_at: datetime
    last_customer_at: datetime | None

    @classmethod
    def of(cls, c: Conversation) -> ConversationOut:
        return cls.model_validate(c, from_attributes=True)


class MessageOut(BaseModel):
    id: int
    sender: str
    agent_id: int | None
    text: str
    buttons: list[dict] | None
    data: dict | None
    internal: bool
    created_at: datetime
    delivery: dict | None = None  # Telegram/WhatsApp: sent, delivered, read, failed (with why), not_sent

    @classmethod
    def of(cls, m: Message, delivery: dict | None = None, *, media: MediaStore | None = None) -> MessageOut:
        """The message as the console shows it; with ``media``, its files' links signed anew (the
        links stored with a message expire)."""
        out = cls.model_validate(m, from_attributes=True)
        out.delivery = delivery
        if media is not None and out.data and out.data.get("attachments"):
            out.data = {**out.data, "attachments": media.fresh_attachments(out.data["attachments"])}
        return out


class CustomerOut(BaseModel):
    """Who the customer is on their channel."""

    channel: str
    customer_id: str
    name: str | None
    username: str | None
    language: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    unreachable_at: datetime | None
    unreachable_reason: str | None


class PastConversation(BaseModel):
    id: str
    state: str
    created_at: datetime
    team_id: str | None
    nps: int | None


class CustomerProfile(BaseModel):
    channel: str
    customer_id: str
    name: str | None
    language: str
    conversations: list[PastConversation]


class ConversationDetail(BaseModel):
    conversation: ConversationOut
    customer: CustomerOut | None = None
    messages: list[MessageOut]
    profile: CustomerProfile


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_REPLY_CHARS)


class CloseIn(BaseModel):
    reason: str = Field("resolved", pattern="^(resolved|no_response|spam)$")


class TransferIn(BaseModel):
    team_id: str | None = None
    agent_id: DbInt | None = None
    note: str = Field("", max_length=MAX_REPLY_CHARS)


class StatusIn(BaseModel):
    status: str = Field(pattern="^(online|away|offline)$")


class CannedOut(BaseModel):
    shortcut: str
    text: str


class AgentOut(BaseModel):
    id: int
    name: str
    status: str
    capacity: int
    open_chats: int


class TeamOverview(BaseModel):
    id: str
    name: str
    open_now: bool
    assignment: str
    queue: list[ConversationOut]
    agents: list[AgentOut]


async def _profile(session: DbSession, conversation: Conversation) -> CustomerProfile:
    past = await handoff.customer_conversations(session, channel=conversation.channel, customer_id=conversation.customer_id)
    rows = []
    for c in past:
        survey = await insights.get_survey(session, c.id)
        rows.append(
            PastConversation(
                id=c.id, state=c.state, created_at=c.created_at, team_id=c.team_id, nps=survey.score if survey else None
            )
        )
    return CustomerProfile(
        channel=conversation.channel,
        customer_id=conversation.customer_id,
        name=conversation.customer_name,
        language=conversation.language,
        conversations=rows,
    )


@api.get("/queue", response_model=list[ConversationOut])
async def queue(user: Agent, session: DbSession) -> list[ConversationOut]:
    """Waiting conversations of the agent's teams, highest priority and oldest first."""
    teams = await handoff.user_team_ids(session, user)
    return [ConversationOut.of(c) for c in await handoff.list_queue(session, teams)]


@api.get("/conversations", response_model=list[ConversationOut])
async def my_conversations(user: Agent, session: DbSession) -> list[ConversationOut]:
    """The conversations the agent is handling now."""
    return [ConversationOut.of(c) for c in await handoff.list_agent_conversations(session, user.id)]


@api.get("/conversations/{conversation_id}", response_model=ConversationDetail)
async def conversation_detail(conversation_id: str, request: Request, user: Agent, session: DbSession) -> ConversationDetail:
    """The whole history (bot part, the article it used, why it escalated, private notes), how each
    message fared on its way to the customer, and who the customer is, with their previous
    conversations and NPS."""
    conversation = await accessible_conversation(session, conversation_id, user)
    messages = await handoff.conversation_history(session, conversation_id)
    delivery = await outbox.delivery_of_messages(session, [m.id for m in messages if m.sender != "customer"])
    customer = await customers.get_customer(session, channel=conversation.channel, customer_id=conversation.customer_id)
    return ConversationDetail(
        conversation=ConversationOut.of(conversation),
        customer=CustomerOut.model_validate(customer, from_attributes=True) if customer else None,
        messages=[MessageOut.of(m, delivery.get(m.id), media=app_state(request).media) for m in messages],
        profile=await _profile(session, conversation),
    )


async def _change(request: Request, user: User, conversation_id: str, change: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``change(session)`` in one unit of work after the access check; handoff errors → 409."""
    async with app_state(request).desk.unit_of_work() as session:
        await accessible_conversation(session, conversation_id, user)
        try:
            return await change(session)
        except (handoff.HandoffError, handoff.UnknownTeam) as exc:
            raise HTTPException(409, str(exc)) from exc


@api.post("/conversations/{conversation_id}/claim", response_model=ConversationOut, dependencies=[Depends(csrf_protected)])
async def claim(conversation_id: str, user: Agent, request: Request) -> ConversationOut:
    """Take a queued conversation. 409 when another agent was first."""

    async def change(session: AsyncSession) -> Conversation:
        conversation = await handoff.claim_conversation(session, conversation_id, user)
        await record_audit(
            session,
            actor=user,
            action=AuditAction.CLAIM,
            target_type="conversation",
            target_id=conversation_id,
            details={"team": conversation.team_id},
            client=AuditClient.of(request),
        )
        return conversation

    return ConversationOut.of(await _change(request, user, conversation_id, change))


@api.post(
    "/conversations/{conversation_id}/messages",
    response_model=MessageOut,
    status_code=201,
    dependencies=[Depends(csrf_protected)],
)
async def reply(conversation_id: str, body: ReplyIn, user: Agent, request: Request) -> MessageOut:
    """Write to the customer (the conversation must be yours)."""
    if not body.text.strip():
        raise HTTPException(422, "the reply is empty")
    message = await _change(request, user, conversation_id, lambda s: handoff.agent_reply(s, conversation_id, user, body.text))
    return MessageOut.of(message)


@api.post(
    "/conversations/{conversation_id}/attachments",
    response_model=MessageOut,
    status_code=201,
    dependencies=[Depends(csrf_protected)],
)
async def send_attachment(
    conversation_id: str,
    user: Agent,
    request: Request,
    file: UploadFile = File(...),
    text: str = Form("", max_length=MAX_REPLY_CHARS),
) -> MessageOut:
    """Send the customer a file (JPEG, PNG or PDF, up to the configured size) with an optional
    caption; the conversation must be yours. 413 for a file too large, 415 for another type."""
    settings = app_state(request).settings
    media = app_state(request).media
    content = await file.read(settings.media_max_bytes + 1)
    try:
        mime = check_media(content, file.content_type, max_bytes=settings.media_max_bytes)
    except MediaRefused as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    name = safe_name(file.filename, mime)
    stored = None

    async def change(session: AsyncSession) -> Message:
        nonlocal stored
        stored = media.save(content, mime=mime, name=name)
        return await handoff.agent_reply(
            session, conversation_id, user, text.strip() or f"📎 {name}", attachments=[stored.as_attachment()]
        )

    try:
        message = await _change(request, user, conversation_id, change)
    except BaseException:
        if stored is not None:
            media.discard(stored.id)  # the message was not stored: neither is its file
        raise
    return MessageOut.of(message)


@api.post(
    "/conversations/{conversation_id}/notes", response_model=MessageOut, status_code=201, dependencies=[Depends(csrf_protected)]
)
async def note(conversation_id: str, body: ReplyIn, user: Agent, request: Request) -> MessageOut:
    """A private note for the agents; the customer never sees it."""
    if not body.text.strip():
        raise HTTPException(422, "the note is empty")
    message = await _change(request, user, conversation_id, lambda s: handoff.add_note(s, conversation_id, user, body.text))
    return MessageOut.of(message)


@api.post("/conversations/{conversation_id}/transfer", response_model=ConversationOut, dependencies=[Depends(csrf_protected)])
async def transfer(conversation_id: str, body: TransferIn, user: Agent, request: Request) -> ConversationOut:
    """Send the chat to another team's queue or to another agent, with a note for them."""

    async def change(session: AsyncSession) -> Conversation:
        target = None
        if body.agent_id is not None:
            target = await handoff.get_user(session, body.agent_id)
            if target is None:
                raise HTTPException(404, f"there is no active user {body.agent_id}")
        if body.team_id is not None:
            await handoff.get_team(session, body.team_id)
        before = await handoff.get_conversation(session, conversation_id)
        moved = {"from_team": before.team_id, "from_agent": before.agent_id}
        conversation = await handoff.transfer_conversation(
            session, conversation_id, user, team_id=body.team_id, to_agent=target, note=body.note
        )
        await record_audit(
            session,
            actor=user,
            action=AuditAction.TRANSFER,
            target_type="conversation",
            target_id=conversation_id,
            details=moved | {"to_team": conversation.team_id, "to_agent": conversation.agent_id},
            client=AuditClient.of(request),
        )
        return conversation

    return ConversationOut.of(await _change(request, user, conversation_id, change))


@api.post("/conversations/{conversation_id}/unassign", response_model=ConversationOut, dependencies=[Depends(csrf_protected)])
async def unassign(conversation_id: str, user: Agent, request: Request) -> ConversationOut:
    """Put the chat back in its team's queue."""
    return ConversationOut.of(
        await _change(request, user, conversation_id, lambda s: handoff.unassign_conversation(s, conversation_id, user))
    )


@api.post("/conversations/{conversation_id}/close", response_model=ConversationOut, dependencies=[Depends(csrf_protected)])
async def close(conversation_id: str, body: CloseIn, user: Agent, request: Request) -> ConversationOut:
    """End the agent's part; the customer then gets the NPS question from the bot."""

    async def change(session: AsyncSession) -> Conversation:
        conversation = await handoff.close_conversation(session, conversation_id, user, reason=body.reason)
        await record_audit(
            session,
            actor=user,
            action=AuditAction.CLOSE,
            target_type="conversation",
            target_id=conversation_id,
            details={"reason": body.reason, "team": conversation.team_id},
            client=AuditClient.of(request),
        )
        return conversation

    conversation = await _change(request, user, conversation_id, change)
    await app_state(request).desk.run_ending(conversation_id, ending="agent_closed")
    return ConversationOut.of(conversation)


@api.post("/status", dependencies=[Depends(csrf_protected)])
async def set_status(body: StatusIn, user: Agent, request: Request) -> dict:
    """Online, away or offline: only online agents are assigned chats automatically."""
    async with app_state(request).desk.unit_of_work() as session:
        fresh = await handoff.get_user(session, user.id)
        if fresh is None:  # deleted since the request was authenticated
            raise HTTPException(401, "log in first")
        await handoff.set_agent_status(session, fresh, body.status)
    return {"status": body.status}


@api.get("/canned", response_model=list[CannedOut])
async def canned(
    user: Agent, session: DbSession, lang: str = "pt-BR", team: Annotated[str | None, Query(max_length=40)] = None
) -> list[CannedOut]:
    """Canned responses for ``/`` in the customer's language: everyone's and those of the agent's
    own teams, plus those of ``team`` (the open chat's) when the agent may see its chats (a
    supervisor on another team's chat); never another team's otherwise."""
    teams = [t for t, members in (await handoff.team_members(session)).items() if user.id in members]
    visible = await handoff.user_team_ids(session, user)
    if team and (visible is None or team in visible):
        teams.append(team)
    return [CannedOut(shortcut=c.shortcut, text=c.text) for c in await handoff.list_canned(session, lang=lang, team_ids=teams)]


@api.get("/overview", response_model=list[TeamOverview], dependencies=[Supervisor])
async def overview(session: DbSession) -> list[TeamOverview]:
    """Supervisors: every team's queue and agents (status and load)."""
    from core.models import utcnow

    out = []
    for team in await handoff.list_teams(session):
        loads = await handoff.team_loads(session, team.id)
        out.append(
            TeamOverview(
                id=team.id,
                name=team.name,
                open_now=handoff.is_open(team, utcnow()),
                assignment=team.assignment,
                queue=[ConversationOut.of(c) for c in await handoff.list_queue(session, [team.id])],
                agents=[
                    AgentOut(
                        id=load.user.id,
                        name=load.user.name,
                        status=load.user.status,
                        capacity=load.user.capacity,
                        open_chats=load.open_chats,
                    )
                    for load in loads
                ],
            )
        )
    return out


@api.websocket("/ws")
async def live(websocket: WebSocket) -> None:
    """Live events for the console; the console sends {"type": "typing", "conversation_id"}."""
    state = app_state(websocket)
    desk = state.desk
    # Another site's page must not open it with the agent's cookie (cross-site WebSocket hijacking):
    # refused (1008, an HTTP 403 during the handshake) before anything is read or changed.
    if not allowed_origin(websocket.headers.get("origin"), public_url=state.settings.public_url, port=state.settings.port):
        await websocket.close(code=1008, reason="this page may not open the console's WebSocket")
        return
    async with desk.sessions() as session:
        user = await session_user(websocket, session)
        teams = await handoff.user_team_ids(session, user) if user else None
    if user is None or user.role not in (Role.AGENT.value, Role.SUPERVISOR.value, Role.ADMIN.value):
        await websocket.close(code=4401, reason="log in as an agent first")
        return
    if user.must_change_password:
        await websocket.close(code=4403, reason=ONE_TIME_REFUSAL)
        return
    # The status first, so an agent whose console has opened is already online (and assignable).
    await desk.agent_connected(user)
    await websocket.accept()

    async def session_ended() -> None:
        await websocket.close(code=SESSION_ENDED, reason="your session has ended: log in again")

    connection = AgentConnection(user.id, frozenset(teams) if teams is not None else None, websocket.send_json, session_ended)
    desk.bus.connect_agent(connection)
    try:
        while True:
            raw = await receive_text_frame(websocket)
            if raw is None:  # a binary frame: the console only sends JSON text
                continue
            try:
                frame = json.loads(raw)
            except ValueError:
                continue
            if isinstance(frame, dict) and frame.get("type") == "typing" and isinstance(frame.get("conversation_id"), str):
                try:
                    await desk.agent_typing(user, frame["conversation_id"])
                except handoff.ConversationNotFound:
                    continue
    except WebSocketDisconnect:
        pass
    finally:
        desk.bus.disconnect_agent(connection)
        await desk.agent_disconnected(user)


# -- the page -------------------------------------------------------------------------------------


@pages.get("/console", response_class=HTMLResponse)
async def console(request: Request, session: DbSession, user: ConsoleUser, lang: str | None = None) -> Response:
    """The agents' console (queues, conversations, canned responses; supervisors see every team)."""
    chosen, texts = console_texts(lang or request.headers.get("accept-language", "pt-BR"))
    teams = await handoff.list_teams(session)
    agents = sorted(
        {load.user.id: load.user for t in teams for load in await handoff.team_loads(session, t.id)}.values(),
        key=lambda u: u.name,
    )
    context = {"csrf": csrf_token(request), "user": user, "lang": chosen, "t": texts, "teams": teams, "agents": agents}
    return templates.TemplateResponse(request, "console.html", context)


router = APIRouter()
"""Everything of the console: ``/api/agent/...``, its WebSocket and the ``/console`` page."""
router.include_router(api)
router.include_router(pages)
