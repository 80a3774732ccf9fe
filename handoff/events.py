"""Typed real-time events of handoff. Domain functions queue them on the session; the hub sends
them after the transaction commits, and decides who receives each one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from handoff.models import Conversation

PENDING_KEY = "balcao_pending_events"
LISTENERS_KEY = "balcao_append_listeners"

AppendListener = Callable[[AsyncSession, Any], Awaitable[None]]


class Event(BaseModel):
    """Base of every real-time event."""

    type: str
    conversation_id: str
    channel: str
    customer_id: str
    team_id: str | None = None
    agent_id: int | None = None


class MessageAdded(Event):
    type: Literal["message"] = "message"
    message_id: int
    sender: Literal["customer", "bot", "agent", "system"]
    text: str
    buttons: list[dict] | None = None
    agent_name: str | None = None
    internal: bool = False  # a private note: agents only
    created_at: datetime
    attachments: list[dict] | None = None  # files with the message (``data.attachments``)


class OwnerChanged(Event):
    """A conversation changed owner: queued, claimed, transferred, closed, ended."""

    type: Literal["owner"] = "owner"
    from_state: str
    to_state: str
    previous_team_id: str | None = None
    reason: str | None = None
    agent_name: str | None = None


class QueueUpdate(Event):
    """The customer's place in the queue changed."""

    type: Literal["queue"] = "queue"
    position: int
    wait_seconds: int


class Typing(Event):
    """Someone is typing: shown to the other side, never stored."""

    type: Literal["typing"] = "typing"
    who: Literal["customer", "agent"]
    agent_name: str | None = None


class AgentStatusChanged(BaseModel):
    """An agent went online, away or offline (for supervisors and the assignment)."""

    type: Literal["agent_status"] = "agent_status"
    user_id: int
    name: str
    status: str
    team_ids: list[str]


def about(conversation: "Conversation") -> dict[str, object]:
    """The fields every event of ``conversation`` carries; the hub decides recipients from them."""
    return {
        "conversation_id": conversation.id,
        "channel": conversation.channel,
        "customer_id": conversation.customer_id,
        "team_id": conversation.team_id,
        "agent_id": conversation.agent_id,
    }


def queue_event(session: AsyncSession, event: Event | AgentStatusChanged) -> None:
    """Keep ``event`` with the session until its transaction commits (then the hub sends it)."""
    session.info.setdefault(PENDING_KEY, []).append(event)


def pending_events(session: AsyncSession) -> list[Event]:
    """The events queued on ``session`` so far, left in place (e.g. to write an outbox row for
    each in the same transaction)."""
    return list(session.info.get(PENDING_KEY, []))


def take_pending_events(session: AsyncSession) -> list[Event]:
    """Remove and return the events queued on ``session`` (called by the hub after commit)."""
    return session.info.pop(PENDING_KEY, [])


def listening(*listeners: AppendListener) -> dict[str, list[AppendListener]]:
    """Session ``info`` that makes handoff call ``listeners`` with every row it appends (a started
    conversation, a message, an ownership event), in the same transaction: e.g. the hub's
    ``async_sessionmaker(..., info=listening(insights.note_appended))`` keeps the KPI summaries."""
    return {LISTENERS_KEY: list(listeners)}


async def appended(session: AsyncSession, row: Any) -> None:
    """Tell the session's append listeners that ``row`` was just written (and flushed)."""
    for listener in session.info.get(LISTENERS_KEY, ()):
        await listener(session, row)
