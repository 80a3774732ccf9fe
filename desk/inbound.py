"""What the channels bring in: a customer's message is checked, stored and routed by the
conversation's owner (Rasa while the bot owns it, the agents otherwise); a refusal is told back to
the customer; a platform's delivery status reaches the agents."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

import handoff
from connectors import customers, outbox
from connectors.base import InboundMessage, numbered, pick_option
from connectors.outbox import DeliveryChange, DeliveryChanged
from connectors.text import text_for_the_bot
from core.languages import supported
from desk.backpressure import BotTyping, TurnClock
from desk.config import DeskSettings
from desk.early_search import EarlySearches
from desk.learning import learn_from_choice
from desk.queues import Queues
from desk.rasa import RasaBridge
from desk.realtime import EventBus
from desk.texts import say
from desk.turns import TurnLocks
from handoff import Conversation, State
from handoff.events import about

BOT_OWNED = (State.BOT, State.CLOSING)  # Rasa answers the customer


@dataclass(frozen=True)
class _Turn:
    """A stored message the bot answers: its conversation and what Rasa hears."""

    conversation: Conversation
    rasa_text: str


class Refused(str, enum.Enum):
    """Why an inbound message was not accepted (the customer is told; nothing is stored)."""

    EMPTY = "empty"
    TOO_LONG = "too_long"
    DUPLICATE = "duplicate"


async def chosen_payload(session: AsyncSession, conversation: Conversation, inbound: InboundMessage) -> str | None:
    """The payload of the button the customer chose: tapped (``payload``, or ``option`` with
    the offering message's id) or typed as its number in a numbered list. Only buttons of the
    bot's last message count."""
    if not inbound.payload and inbound.option is None:
        return None
    for message in reversed(await handoff.conversation_history(session, conversation.id)):
        if message.sender == "customer":
            continue
        if inbound.option is not None:
            if inbound.option_of is not None and inbound.option_of != message.id:
                return None  # a button of an older message
            if inbound.option_of is None and not numbered(message.buttons):
                return None  # a typed number that answers the question itself (0–10)
            button = pick_option(message.buttons, inbound.option)
            return str(button["payload"]) if button else None
        offered = {b.get("payload") for b in (message.buttons or [])}
        return inbound.payload if inbound.payload in offered else None
    return None


def rasa_text(inbound: InboundMessage, payload: str | None) -> str:
    """What Rasa hears. Typed text never reaches it as an intent payload ("/..."): only offered
    buttons and intents the channel itself recognised (Telegram's /start) do."""
    return payload or (f"/{inbound.intent}" if inbound.intent else None) or text_for_the_bot(inbound.text)


async def _open_conversation(session: AsyncSession, inbound: InboundMessage) -> Conversation:
    """The customer's open conversation on this channel, or a new one the bot owns (named as
    their message names them, else as their record does: a widget customer the shop identified)."""
    customer = await customers.remember_customer(session, inbound)
    conversation = await handoff.find_open_conversation(session, channel=inbound.channel, customer_id=inbound.customer_id)
    if conversation is None:
        conversation = await handoff.start_conversation(
            session,
            channel=inbound.channel,
            customer_id=inbound.customer_id,
            language=inbound.language,
            customer_name=inbound.customer_name or customer.name,
        )
    return conversation


async def _last_and_unanswered(session: AsyncSession, conversation: Conversation, inbound: InboundMessage) -> bool:
    """Whether the conversation's last message is this customer message (so nothing answered it)."""
    history = await handoff.conversation_history(session, conversation.id)
    return bool(history) and history[-1].sender == "customer" and history[-1].channel_message_id == inbound.channel_message_id


class Inbound:
    """One per desk. Turns of one customer are handled one after the other, on every replica, so
    each message is stored once and answered in the order stored (``desk.turns``)."""

    def __init__(self, settings: DeskSettings, queues: Queues, bus: EventBus, bridge: RasaBridge, early: EarlySearches) -> None:
        self.settings = settings
        self.queues = queues
        self.bus = bus
        self.bridge = bridge
        self.early = early
        relay = bus.relay
        # With several replicas, a customer's turns wait for each other on all of them (desk.turns).
        self.turns = TurnLocks(
            relay.redis if relay else None, prefix=relay.prefix if relay else "balcao", hold_s=settings.turn_lock_s
        )
        self.typing = BotTyping(queues.sessions, bus)  # backpressure: the customer sees the bot typing while waiting

    def check(self, inbound: InboundMessage) -> tuple[Refused, str] | None:
        """A refusal and the polite sentence for it, or ``None`` when the message is acceptable."""
        if not inbound.text.strip():
            return Refused.EMPTY, say("empty", inbound.language)
        if len(inbound.text) > self.settings.max_message_chars:
            return Refused.TOO_LONG, say("too_long", inbound.language, limit=self.settings.max_message_chars)
        return None

    async def handle(self, inbound: InboundMessage) -> tuple[Refused, str] | None:
        """Store the customer's message, then let the owner of the conversation answer it.

        Returns a refusal (and its sentence) for a message that was not accepted.
        """
        refusal = self.check(inbound)
        if refusal:
            return refusal
        clock = TurnClock.start(self.settings.bot_wait_s)  # waiting for earlier turns counts too
        waiting = self.typing.while_waiting(inbound.channel, inbound.customer_id)
        async with waiting, self.turns.hold(inbound.channel, inbound.customer_id):
            try:
                stored = await self._store(inbound)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                # The database cut this connection mid-turn (a restart, pg_terminate_backend): the
                # transaction was rolled back and the pool has dropped its stale connections, so once
                # more on a fresh one. Had the commit itself gone through, the message id finds it.
                stored = await self._store(inbound)
            if isinstance(stored, tuple):
                return stored
            if stored is not None:
                await self._ask(stored, clock)
            # queued or human: the agents already received the message; Rasa is not asked.
        return None

    async def _ask(self, turn: _Turn, clock: TurnClock) -> None:
        """Rasa answers the turn. A question may be searched in the knowledge base meanwhile (while
        the conversation is in the bot's hands, not during its ending), for the knowledge-base
        action to take (``desk.early_search``); whatever it did not take is forgotten after."""
        conversation = turn.conversation
        # The action searches in the language Rasa has for the customer: the one the hub sends it.
        key = (conversation.id, turn.rasa_text, supported(conversation.language))
        async with self.early.turn(*key, search=self.settings.kb_early_search and conversation.state == State.BOT):
            await self.bridge.ask(conversation, turn.rasa_text, clock)

    async def _store(self, inbound: InboundMessage) -> _Turn | tuple[Refused, str] | None:
        """In one unit of work: the conversation found or opened and the message recorded. Returns
        what Rasa should hear while the bot owns the chat, a refusal, or ``None`` (nothing to ask)."""
        async with self.queues.unit_of_work() as session:
            conversation = await _open_conversation(session, inbound)
            payload = await chosen_payload(session, conversation, inbound)
            data: dict = {}
            if payload:
                data["payload"] = payload
            if inbound.attachments:
                data["attachments"] = [a.as_dict() for a in inbound.attachments]
            try:
                await handoff.record_message(
                    session,
                    conversation,
                    sender="customer",
                    text=inbound.text,
                    data=data or None,
                    channel_message_id=inbound.channel_message_id,
                )
            except handoff.DuplicateMessage:
                if conversation.state in BOT_OWNED and await _last_and_unanswered(session, conversation, inbound):
                    # Stored, but the replica that stored it died before Rasa's reply was stored (the
                    # page sent it again): the customer is answered now rather than never.
                    return _Turn(conversation, rasa_text(inbound, payload))
                return Refused.DUPLICATE, ""
            await learn_from_choice(session, conversation, payload)
            if conversation.state not in BOT_OWNED:
                return None
            if inbound.attachments:
                # Rasa reads text only: the file is kept for the agents, the bot says so politely.
                await handoff.record_message(session, conversation, sender="bot", text=say("attachment", conversation.language))
                return None
        return _Turn(conversation, rasa_text(inbound, payload))

    async def tell(self, inbound: InboundMessage, text: str) -> None:
        """Say something to a customer outside any conversation (e.g. why their message was
        refused), through their channel's outbox."""
        async with self.queues.unit_of_work() as session:
            await customers.remember_customer(session, inbound)
            await outbox.enqueue(
                session, channel=inbound.channel, customer_id=inbound.customer_id, body={"text": text, "buttons": []}
            )
        channel = self.bus.channels.get(inbound.channel)
        if channel is not None:
            getattr(channel, "wake", lambda: None)()

    async def delivery_changed(self, changes: list[DeliveryChange]) -> None:
        """Tell the agents of each conversation that a message failed or was not sent."""
        events = []
        async with self.queues.sessions() as session:
            for change in changes:
                if change.conversation_id is None:
                    continue
                conversation = await handoff.get_conversation(session, change.conversation_id)
                events.append(
                    DeliveryChanged(**about(conversation), message_id=change.message_id, status=change.status, error=change.error)
                )
        if events:
            await self.bus.publish(events)
