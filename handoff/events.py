"""Typed real-time events of handoff. Domain functions queue them on the session; the hub sends
them after the transaction commits, and decides who receives each one."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

PENDING_KEY = "balcao_pending_events"


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
    created_at: datetime


class OwnerChanged(Event):
    """A conversation changed owner: queued, claimed, transferred, closed, ended."""

    type: Literal["owner"] = "owner"
    from_state: str
    to_state: str
    reason: str | None = None
    agent_name: str | None = None


def queue_event(session: AsyncSession, event: Event) -> None:
    """Keep ``event`` with the session until its transaction commits (then the hub sends it)."""
    session.info.setdefault(PENDING_KEY, []).append(event)


def pending_events(session: AsyncSession) -> list[Event]:
    """The events queued on ``session`` so far, left in place (e.g. to write an outbox row for
    each in the same transaction)."""
    return list(session.info.get(PENDING_KEY, []))


def take_pending_events(session: AsyncSession) -> list[Event]:
    """Remove and return the events queued on ``session`` (called by the hub after commit)."""
    return session.info.pop(PENDING_KEY, [])
