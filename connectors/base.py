"""What every channel adapter has in common: an inbound message, delivery to the customer, and for
channels behind a platform API (Telegram, WhatsApp) the outbox contract."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from core.events import Event

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from connectors.models import ChannelCustomer, OutboxMessage
    from handoff.models import Conversation


@dataclass(frozen=True)
class Attachment:
    """A file the customer sent (a photo, a document, a voice note, a sticker) or a location.

    ``stored`` is what the message keeps once the file was fetched (``StoredMedia.as_attachment``),
    or why it could not be (``connectors.inbound_media``); a location keeps its coordinates."""

    kind: str  # photo | document | voice | audio | video | sticker | image | location
    ref: str  # Telegram's file_id, the media URL Twilio gave, or "latitude,longitude"
    mime: str | None = None
    name: str | None = None
    stored: dict | None = None

    def as_dict(self) -> dict:
        """The entry of the stored message's ``data.attachments``."""
        if self.stored is not None:
            return self.stored
        return {"kind": self.kind, "ref": self.ref, "mime": self.mime, "name": self.name}


@dataclass(frozen=True)
class InboundMessage:
    """A customer's message as a channel received it, before it is stored."""

    channel: str
    customer_id: str
    text: str
    language: str
    channel_message_id: str | None = None
    customer_name: str | None = None
    payload: str | None = None  # a tapped button's payload, sent to Rasa instead of the text
    metadata: dict = field(default_factory=dict)
    # An intent the channel itself recognised (Telegram's /start → "greet"), sent to Rasa as "/greet".
    intent: str | None = None
    # The n-th (1-based) option the bot offered, for channels that show buttons as a numbered list
    # or by position (Telegram's callback data); ``option_of`` is the bot message that offered it.
    option: int | None = None
    option_of: int | None = None
    attachments: tuple[Attachment, ...] = ()
    address: str | None = None  # where replies go: a Telegram chat id, a whatsapp:+E.164 number
    username: str | None = None


class Channel(ABC):
    """One customer channel. ``deliver`` sends an event (a message, an owner change) to the customer."""

    name: str

    @abstractmethod
    async def deliver(self, event: Event) -> None:
        """Send what the customer should see of ``event``; the hub already decided they should."""

    # Called when a customer connects or leaves (set by the desk's bus: other replicas are told).
    presence_changed: Callable[[], None] | None = None

    def connected_customers(self) -> set[str]:
        """The customers with a connection open to this process (the widget's); empty for
        channels that keep none."""
        return set()

    def disconnected_since(self, customer_id: str) -> datetime | None:
        """When the customer closed their last connection, for channels that keep one open
        (the widget); ``None`` when connected or when the channel cannot tell."""
        return None


class RetryLater(Exception):
    """The platform could not take the message now (rate limit, 5xx, network): try again."""

    def __init__(self, reason: str, *, after_s: float | None = None) -> None:
        super().__init__(reason)
        self.after_s = after_s


class Unreachable(Exception):
    """The customer cannot be reached on this channel any more (e.g. they blocked the bot)."""


class SendFailed(Exception):
    """The platform refused the message for good (bad request, invalid number)."""


@dataclass
class Plan:
    """What the outbox will send for one event: a body, or why nothing is sent."""

    body: dict | None
    not_sent_reason: str | None = None


class OutboxChannel(Channel):
    """A channel whose messages go through the durable outbox: ``plan`` decides what to send when
    the message is stored (same transaction); a worker calls ``send`` later, with retries."""

    max_chars: int = 4000
    # Whether accepted_since can ask the platform (otherwise the outbox does not look).
    confirms_sends: bool = False

    def __init__(self) -> None:
        self.wake = lambda: None  # set by the outbox worker

    async def deliver(self, event: Event) -> None:
        """The outbox row was written with the message: only wake the worker."""
        self.wake()

    async def plan(
        self, session: AsyncSession, event: Event, conversation: Conversation, customer: ChannelCustomer | None, now: datetime
    ) -> Plan | None:
        """The body to send for ``event`` (``None``: nothing for this customer to see), decided
        in the transaction that stores the message."""
        from handoff.events import MessageAdded, OwnerChanged
        from handoff.models import State

        if customer is not None and customer.unreachable_at is not None:
            return Plan(None, f"customer unreachable: {customer.unreachable_reason}")
        if isinstance(event, MessageAdded):
            body = {"text": event.text, "buttons": event.buttons or [], "sender": event.sender, "language": conversation.language}
            if event.attachments and event.sender != "customer":
                body["attachments"] = [
                    {k: a.get(k) for k in ("kind", "mime", "name", "media_id")} | {"url": a.get("ref")} for a in event.attachments
                ]
            return Plan(body)
        if isinstance(event, OwnerChanged) and event.to_state == State.HUMAN and event.agent_name:
            text = JOINED.get(conversation.language, JOINED["pt-BR"]).format(name=event.agent_name)
            return Plan({"text": text, "buttons": [], "sender": "system", "language": conversation.language})
        return None

    @abstractmethod
    async def send(self, row: OutboxMessage, address: str) -> str | None:
        """Send ``row.body`` to ``address``; returns the platform's message id.

        Raises ``RetryLater``, ``Unreachable`` or ``SendFailed``. A body sent in several parts
        advances ``row.parts_sent`` as each part is accepted, so a retry never repeats one.
        """

    async def accepted_since(self, row: OutboxMessage, address: str, since: datetime, exclude: set[str]) -> str | None:
        """Whether the platform took ``row`` (every part from ``row.parts_sent`` on) since ``since``
        although no answer said so: a send that timed out after the platform accepted it, or a
        replica killed before it recorded the answer. Returns the platform's message id and advances
        ``row.parts_sent`` over the parts found; ``exclude``: message ids of other rows, never this
        one's. The default, for platforms that cannot be asked (Telegram's Bot API cannot list what
        a bot sent), is None: the row is sent again, so such a message may arrive twice rather
        than never."""
        return None


JOINED = {
    "pt-BR": "{name} entrou na conversa.",
    "pt-PT": "{name} entrou na conversa.",
    "en": "{name} joined the conversation.",
}


def language_of(code: str | None, default: str) -> str:
    """A platform's language code ("pt-br", "pt", "en-US", "pt-PT") as one of ours."""
    if not code:
        return default
    code = code.replace("_", "-").lower()
    if code == "pt-pt":
        return "pt-PT"
    if code.startswith("pt"):
        return "pt-BR"
    if code.startswith("en"):
        return "en"
    return default


def numbered(buttons: list[dict] | None) -> bool:
    """Whether a text channel lists these buttons by number. A question whose answers are numbers
    already (the 0–10 survey, with its "skip") is not numbered: the customer types the number
    itself, and a numbered list of numbers would be read wrongly."""
    if not buttons:
        return False
    return not any(str(b.get("title", "")).strip().isdigit() for b in buttons)


def pick_option(buttons: list[dict] | None, option: int | None) -> dict | None:
    """The ``option``-th (1-based) of ``buttons``, or ``None``."""
    if not buttons or option is None or not 1 <= option <= len(buttons):
        return None
    return buttons[option - 1]


_BOLD = re.compile(r"\*\*(.+?)\*\*", re.S)


def plain_text(text: str) -> str:
    """The bot's only formatting is **bold**: drop the markers for a plain-text channel."""
    return _BOLD.sub(r"\1", text)


def split_text(text: str, limit: int) -> list[str]:
    """Parts of at most ``limit`` characters, cut at a paragraph, a line or a space when possible."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), -1)
        if cut < limit // 2:
            cut = window.rfind("\n")
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts or [""]
