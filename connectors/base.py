"""What every channel adapter has in common: an inbound message, and delivery to the customer."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime

from handoff.events import Event


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


class Channel(ABC):
    """One customer channel. ``deliver`` sends an event (a message, an owner change) to the customer."""

    name: str

    @abstractmethod
    async def deliver(self, event: Event) -> None:
        """Send what the customer should see of ``event``; the hub already decided they should."""

    def disconnected_since(self, customer_id: str) -> datetime | None:
        """When the customer closed their last connection, for channels that keep one open
        (the widget); ``None`` when connected or when the channel cannot tell."""
        return None
