"""While a customer waits for the bot they see it typing, and the indicator stops with the turn
(desk.backpressure.BotTyping), on several replicas sharing a Redis."""

from __future__ import annotations

import asyncio
import uuid

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import handoff
from desk.backpressure import TYPING_AFTER_S, TYPING_EVERY_S, BotTyping
from desk.realtime import EventBus, ReplicaRelay
from tests.desk.test_turns import REDIS, CancellationDroppingRedis
from tests.handoff.conftest import sessions  # noqa: F401 - a fixture


async def test_a_turn_ends_even_when_redis_drops_the_cancellation_of_its_typing_indicator(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        await handoff.start_conversation(session, channel="telegram", customer_id="tg-42", language="pt-BR")
    relay = ReplicaRelay(REDIS, prefix=f"test-{uuid.uuid4().hex[:8]}")
    await relay.redis.aclose()
    relay.redis = CancellationDroppingRedis.from_url(REDIS)  # "typing…" goes to the other hubs through it
    listener = Redis.from_url(REDIS).pubsub()
    await listener.subscribe(relay.events_channel)
    await listener.get_message(timeout=1)  # the subscription's confirmation
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        async with asyncio.timeout(15), BotTyping(sessions, EventBus(relay)).while_waiting("telegram", "tg-42"):
            # Rasa answers while the first "typing…" is on its way: the turn's end cancels it in flight
            # (before, the indicator went on for ever and the webhook waited for it).
            await asyncio.sleep(TYPING_AFTER_S + 0.1)
        assert loop.time() - started < 5
        assert await listener.get_message(timeout=2) is not None  # the one sent while the bot was busy
        # ...and no more after the answer.
        assert await listener.get_message(timeout=TYPING_EVERY_S + 1) is None
    finally:
        await listener.aclose()
        await relay.redis.aclose()
