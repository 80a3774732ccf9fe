"""Typed real-time events of handoff. Domain functions queue them on the session
(``core.events.queue_event``); the desk sends them after the transaction commits, and decides who
receives each one."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal, TypedDict

from core.events import Event, RealtimeEvent

if TYPE_CHECKING:
    from handoff.models import Conversation

__all__ = [
    "About",
    "AgentStatusChanged",
    "Event",
    "MessageAdded",
    "OwnerChanged",
    "QueueUpdate",
    "SessionsEnded",
    "Typing",
    "WordsChanged",
    "about",
]


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
    # A bot's answer that shows a passage of an article: the whole article (``data.full_text``),
    # which the widget reveals on request.
    full_text: str | None = None


class OwnerChanged(Event):
    """A conversation changed owner: queued, claimed, transferred, closed, ended."""

    type: Literal["owner"] = "owner"
    from_state: str
    to_state: str
    previous_team_id: str | None = None
    previous_agent_id: int | None = None  # who held it before: told when an unanswered claim is returned
    reason: str | None = None
    agent_name: str | None = None


class QueueUpdate(Event):
    """The customer's place in the queue changed."""

    type: Literal["queue"] = "queue"
    position: int
    wait_seconds: int
    # Whether the team answers now: while it is closed, the place and wait are not shown (nobody
    # is taking chats, so neither means anything to the customer).
    team_open: bool = True


class Typing(Event):
    """Someone is typing: shown to the other side, never stored (``bot``: the customer's turn
    waits for a busy assistant)."""

    type: Literal["typing"] = "typing"
    who: Literal["customer", "agent", "bot"]
    agent_name: str | None = None


class AgentStatusChanged(RealtimeEvent):
    """An agent went online, away or offline (for supervisors and the assignment)."""

    type: Literal["agent_status"] = "agent_status"
    user_id: int
    name: str
    status: str
    team_ids: list[str]


class SessionsEnded(RealtimeEvent):
    """Every session of a user ended (logout, password change or reset, deactivation, new role):
    their consoles still open, on any replica, are closed and must log in again."""

    type: Literal["sessions_ended"] = "sessions_ended"
    user_id: int


class WordsChanged(RealtimeEvent):
    """The admins changed the company's words: every replica reads them again at their next use."""

    type: Literal["words_changed"] = "words_changed"


class About(TypedDict):
    """The fields every event of a conversation carries (``about``)."""

    conversation_id: str
    channel: str
    customer_id: str
    team_id: str | None
    agent_id: int | None


def about(conversation: Conversation) -> About:
    """The fields every event of ``conversation`` carries; the desk decides recipients from them."""
    return {
        "conversation_id": conversation.id,
        "channel": conversation.channel,
        "customer_id": conversation.customer_id,
        "team_id": conversation.team_id,
        "agent_id": conversation.agent_id,
    }
