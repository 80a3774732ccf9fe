"""Real-time events and the session plumbing every package shares.

Domain functions queue typed events on the session (``queue_event``); the desk sends them once the
transaction has committed (``take_pending_events``) and decides who receives each one. Rows a
package appends (a message, an ownership change) are announced to the session's append listeners
in the same transaction (``appended``): the app attaches them with ``listening`` when it makes its
sessions, e.g. insights' KPI summaries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

PENDING_KEY = "balcao_pending_events"
LISTENERS_KEY = "balcao_append_listeners"

AppendListener = Callable[[AsyncSession, Any], Awaitable[None]]


class RealtimeEvent(BaseModel):
    """Base of every real-time event; receivers tell them apart by ``type``."""

    type: str


class Event(RealtimeEvent):
    """An event about one conversation: its fields decide who receives it (the customer, the
    agents of its team, the agent holding it)."""

    conversation_id: str
    channel: str
    customer_id: str
    team_id: str | None = None
    agent_id: int | None = None


def queue_event(session: AsyncSession, event: RealtimeEvent) -> None:
    """Keep ``event`` with the session until its transaction commits (then the desk sends it)."""
    session.info.setdefault(PENDING_KEY, []).append(event)


def pending_events(session: AsyncSession) -> list[RealtimeEvent]:
    """The events queued on ``session`` so far, left in place (e.g. to write an outbox row for
    each in the same transaction)."""
    return list(session.info.get(PENDING_KEY, []))


def take_pending_events(session: AsyncSession) -> list[RealtimeEvent]:
    """Remove and return the events queued on ``session`` (called after commit)."""
    return session.info.pop(PENDING_KEY, [])


def listening(*listeners: AppendListener) -> dict[str, list[AppendListener]]:
    """Session ``info`` that makes every appended row reach ``listeners`` in the same transaction:
    ``async_sessionmaker(..., info=listening(insights.note_appended))`` keeps the KPI summaries."""
    return {LISTENERS_KEY: list(listeners)}


async def appended(session: AsyncSession, row: Any) -> None:
    """Tell the session's append listeners that ``row`` was just written (and flushed)."""
    for listener in session.info.get(LISTENERS_KEY, ()):
        await listener(session, row)
