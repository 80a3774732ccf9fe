"""A customer's turns run one at a time across replicas that share a Redis (desk.turns.TurnLocks)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from desk.turns import TurnLocks

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS)
    yield client
    await client.aclose()


async def test_two_replicas_never_run_one_customers_turns_at_once(redis: Redis) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    replicas = [TurnLocks(redis, prefix=prefix, hold_s=10), TurnLocks(redis, prefix=prefix, hold_s=10)]
    running: set[int] = set()
    overlaps: list[tuple[int, int]] = []
    done: list[int] = []

    async def turn(n: int) -> None:
        async with replicas[n % 2].hold("widget", "ana"):
            if running:
                overlaps.append((n, *running))
            running.add(n)
            await asyncio.sleep(0.02)  # Rasa answering
            running.discard(n)
            done.append(n)

    await asyncio.gather(*(turn(n) for n in range(8)))
    assert overlaps == []
    assert sorted(done) == list(range(8))


async def test_other_customers_do_not_wait(redis: Redis) -> None:
    locks = TurnLocks(redis, prefix=f"test-{uuid.uuid4().hex[:8]}", hold_s=10)

    async def bia() -> None:
        async with locks.hold("widget", "bia"):
            pass

    async with locks.hold("widget", "ana"):
        await asyncio.wait_for(bia(), 5)  # runs to its end while Ana's turn is still open


async def test_a_replica_that_died_mid_turn_holds_the_customer_only_until_the_lock_expires(redis: Redis) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    # The dead replica's lock, as it left it: taken, never released.
    await redis.set(f"{prefix}:turn:widget:ana", "dead-replica", px=300)
    async with asyncio.timeout(10), TurnLocks(redis, prefix=prefix, hold_s=5).hold("widget", "ana"):
        pass


async def test_without_redis_a_replica_still_keeps_its_own_order() -> None:
    locks = TurnLocks(None)
    order: list[str] = []

    async def turn(text: str) -> None:
        async with locks.hold("telegram", "42"):
            order.append(f"{text} in")
            await asyncio.sleep(0.01)
            order.append(f"{text} out")

    await asyncio.gather(turn("first"), turn("second"))
    assert order == ["first in", "first out", "second in", "second out"]


async def test_a_redis_that_does_not_answer_does_not_stop_the_turn() -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    try:
        async with asyncio.timeout(10), TurnLocks(unreachable).hold("widget", "ana"):
            pass
    finally:
        await unreachable.aclose()


async def test_a_turn_longer_than_the_lease_keeps_the_customer_s_lock_until_it_ends(redis: Redis) -> None:
    from desk.turns import LEASE_S

    prefix = f"test-{uuid.uuid4().hex[:8]}"
    first, second = TurnLocks(redis, prefix=prefix, hold_s=20), TurnLocks(redis, prefix=prefix, hold_s=20)
    order: list[str] = []

    async def slow_turn() -> None:  # Rasa takes longer than the lease: the replica renews it
        async with first.hold("widget", "ana"):
            order.append("first starts")
            await asyncio.sleep(LEASE_S * 1.5)
            order.append("first ends")

    async def next_turn() -> None:
        await asyncio.sleep(0.2)
        async with second.hold("widget", "ana"):
            order.append("second")

    await asyncio.gather(slow_turn(), next_turn())
    assert order == ["first starts", "first ends", "second"]


class CancellationDroppingRedis(Redis):
    """A real Redis client whose commands, as redis-py's asyncio client now and then does
    (redis/redis-py#2028, #2551), carry on when they are cancelled in flight."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        with contextlib.suppress(asyncio.CancelledError):  # dropped: the task goes on as if not cancelled
            await asyncio.sleep(0.2)  # the command on its way
        return await super().execute_command(*args, **options)


async def test_a_turn_ends_even_when_redis_drops_the_cancellation_of_its_lease_renewal(redis: Redis) -> None:
    from desk.turns import LEASE_S

    prefix = f"test-{uuid.uuid4().hex[:8]}"
    dropping = CancellationDroppingRedis.from_url(REDIS)
    try:
        started = asyncio.get_running_loop().time()
        async with asyncio.timeout(15), TurnLocks(dropping, prefix=prefix, hold_s=30).hold("telegram", "42"):
            # Rasa answers just after the first renewal went out: the turn's end cancels it in flight
            # (before, the renewal ran on for the 25 s it may, and the webhook waited for it).
            await asyncio.sleep(LEASE_S / 3 + 0.08)
        assert asyncio.get_running_loop().time() - started < 10
        # The customer's next turn, on another replica, is not held up either.
        async with asyncio.timeout(10), TurnLocks(redis, prefix=prefix, hold_s=30).hold("telegram", "42"):
            pass
    finally:
        await dropping.aclose()
