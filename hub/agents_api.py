"""The agents' JSON API and live WebSocket (the console page uses both)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field

import handoff
from connectors import customers, outbox
from handoff import Conversation, Message, User
from hub.auth import Agent, DbSession, csrf_protected
from hub.realtime import AgentConnection

router = APIRouter(prefix="/api/agent", tags=["agents"])
MAX_REPLY_CHARS = 4000


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

    @classmethod
    def of(cls, c: Conversation) -> "ConversationOut":
        return cls.model_validate(c, from_attributes=True)


class MessageOut(BaseModel):
    id: int
    sender: str
    agent_id: int | None
    text: str
    buttons: list[dict] | None
    data: dict | None
    created_at: datetime
    delivery: dict | None = None  # Telegram/WhatsApp: sent, delivered, read, failed (with why), not_sent

    @classmethod
    def of(cls, m: Message, delivery: dict | None = None) -> "MessageOut":
        out = cls.model_validate(m, from_attributes=True)
        out.delivery = delivery
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


class ConversationDetail(BaseModel):
    conversation: ConversationOut
    customer: CustomerOut | None = None
    messages: list[MessageOut]


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_REPLY_CHARS)


class CloseIn(BaseModel):
    reason: str = Field("resolved", pattern="^(resolved|no_response|spam)$")


async def _accessible(session: DbSession, conversation_id: str, user: User) -> Conversation:
    try:
        conversation = await handoff.get_conversation(session, conversation_id)
    except handoff.ConversationNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    if not handoff.can_access(conversation, user, await handoff.user_team_ids(session, user)):
        raise HTTPException(403, "this conversation belongs to a team you are not in")
    return conversation


@router.get("/queue", response_model=list[ConversationOut])
async def queue(user: Agent, session: DbSession) -> list[ConversationOut]:
    """Waiting conversations of the agent's teams, highest priority and oldest first."""
    teams = await handoff.user_team_ids(session, user)
    return [ConversationOut.of(c) for c in await handoff.list_queue(session, teams)]


@router.get("/conversations", response_model=list[ConversationOut])
async def my_conversations(user: Agent, session: DbSession) -> list[ConversationOut]:
    """The conversations the agent is handling now."""
    return [ConversationOut.of(c) for c in await handoff.list_agent_conversations(session, user.id)]


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail)
async def conversation_detail(conversation_id: str, user: Agent, session: DbSession) -> ConversationDetail:
    """The whole history, bot part included, with how each message fared on its way to the
    customer, and the customer's record."""
    conversation = await _accessible(session, conversation_id, user)
    messages = await handoff.conversation_history(session, conversation_id)
    delivery = await outbox.delivery_of_messages(session, [m.id for m in messages if m.sender != "customer"])
    customer = await customers.get_customer(session, channel=conversation.channel, customer_id=conversation.customer_id)
    return ConversationDetail(
        conversation=ConversationOut.of(conversation),
        customer=CustomerOut.model_validate(customer, from_attributes=True) if customer else None,
        messages=[MessageOut.of(m, delivery.get(m.id)) for m in messages],
    )


@router.post("/conversations/{conversation_id}/claim", response_model=ConversationOut, dependencies=[Depends(csrf_protected)])
async def claim(conversation_id: str, user: Agent, request: Request) -> ConversationOut:
    """Take a queued conversation. 409 when another agent was first."""
    desk = request.app.state.desk
    async with desk.unit_of_work() as session:
        await _accessible(session, conversation_id, user)
        try:
            conversation = await handoff.claim_conversation(session, conversation_id, user)
        except handoff.InvalidTransition as exc:
            raise HTTPException(409, str(exc)) from exc
    return ConversationOut.of(conversation)


@router.post("/conversations/{conversation_id}/messages", response_model=MessageOut, status_code=201, dependencies=[Depends(csrf_protected)])
async def reply(conversation_id: str, body: ReplyIn, user: Agent, request: Request) -> MessageOut:
    """Write to the customer (the conversation must be yours)."""
    if not body.text.strip():
        raise HTTPException(422, "the reply is empty")
    async with request.app.state.desk.unit_of_work() as session:
        await _accessible(session, conversation_id, user)
        try:
            message = await handoff.agent_reply(session, conversation_id, user, body.text)
        except handoff.HandoffError as exc:
            raise HTTPException(409, str(exc)) from exc
    return MessageOut.of(message)


@router.post("/conversations/{conversation_id}/close", response_model=ConversationOut, dependencies=[Depends(csrf_protected)])
async def close(conversation_id: str, body: CloseIn, user: Agent, request: Request) -> ConversationOut:
    """End the agent's part; the customer then gets the NPS question from the bot."""
    desk = request.app.state.desk
    async with desk.unit_of_work() as session:
        await _accessible(session, conversation_id, user)
        try:
            conversation = await handoff.close_conversation(session, conversation_id, user, reason=body.reason)
        except handoff.HandoffError as exc:
            raise HTTPException(409, str(exc)) from exc
    await desk.run_ending(conversation_id, ending="agent_closed")
    return ConversationOut.of(conversation)


@router.websocket("/ws")
async def live(websocket: WebSocket) -> None:
    """Live events for the console: new and changed conversations, messages of the agent's teams."""
    desk = websocket.app.state.desk
    user_id = websocket.session.get("uid") if "session" in websocket.scope else None
    async with desk.sessions() as session:
        user = await handoff.get_user(session, int(user_id)) if user_id else None
        teams = await handoff.user_team_ids(session, user) if user else None
    if user is None:
        await websocket.close(code=4401, reason="log in first")
        return
    await websocket.accept()
    connection = AgentConnection(user.id, frozenset(teams) if teams is not None else None, websocket.send_json)
    desk.bus.connect_agent(connection)
    try:
        while True:
            await websocket.receive_text()  # the console only listens; this notices the close
    except WebSocketDisconnect:
        pass
    finally:
        desk.bus.disconnect_agent(connection)
