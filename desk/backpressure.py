"""Backpressure: while a customer waits for the bot (their earlier turns first, then a busy Rasa),
they see it typing; the wait is bounded by ``bot_wait_s``, after which ``RasaBridge.bot_too_slow``
tells them and queues the chat for a person.

A turn that Rasa answers quickly costs nothing here: the typing indicator starts only after
``TYPING_AFTER_S`` (one timer, cancelled when the turn ends). It is a ``Typing(who="bot")`` event
published through the bus, so it reaches the customer's widget on whichever replica holds it, and a
Telegram chat as ``sendChatAction`` (WhatsApp has no typing indicator for businesses).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import handoff
from core.tasks import stop_loop, wait_or_stop
from desk.realtime import EventBus
from handoff import State, Typing
from handoff.events import about

logger = logging.getLogger(__name__)

TYPING_AFTER_S = 1.0  # a turn answered sooner shows nothing (the answer itself is the feedback)
TYPING_EVERY_S = 4.0  # the widget hides a typing indicator after 4 s, Telegram's lasts 5 s
BOT_OWNED = (State.BOT, State.CLOSING)


@dataclass(frozen=True)
class TurnClock:
    """When a customer's turn arrived and when the bot's answer to it stops being waited for."""

    arrived: float
    deadline: float

    @classmethod
    def start(cls, wait_s: float) -> TurnClock:
        """A turn arriving now, waited for at most ``wait_s`` seconds."""
        now = time.monotonic()
        return cls(now, now + wait_s)

    def remaining(self) -> float:
        """Seconds left of the bounded wait (0 or less: the bound has passed)."""
        return self.deadline - time.monotonic()


class BotTyping:
    """Shows the customer that the bot is typing while their turn waits."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: EventBus) -> None:
        self.sessions = sessions
        self.bus = bus

    @contextlib.asynccontextmanager
    async def while_waiting(self, channel: str, customer_id: str) -> AsyncIterator[None]:
        """Typing shown from ``TYPING_AFTER_S`` into the block until it ends."""
        ended = asyncio.Event()
        task = asyncio.create_task(self._keep_typing(channel, customer_id, ended))
        try:
            yield
        finally:
            await stop_loop(task, ended)

    async def _keep_typing(self, channel: str, customer_id: str, ended: asyncio.Event) -> None:
        if await wait_or_stop(ended, TYPING_AFTER_S):
            return
        while not ended.is_set():
            try:
                async with self.sessions() as session:
                    conversation = await handoff.find_open_conversation(session, channel=channel, customer_id=customer_id)
                if conversation is None:  # a first message not stored yet: look again shortly
                    await wait_or_stop(ended, TYPING_AFTER_S / 2)
                    continue
                if conversation.state not in BOT_OWNED:
                    return  # a person has it now: their own typing shows
                await self.bus.publish([Typing(**about(conversation), who="bot")])
            except Exception:  # an indicator never breaks the turn it decorates
                logger.warning("typing indicator for %s/%s not sent", channel, customer_id, exc_info=True)
            await wait_or_stop(ended, TYPING_EVERY_S)
