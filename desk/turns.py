"""One customer's turns one at a time, in the order they are stored, on every hub replica.

Rasa answers a conversation correctly only when its turns reach it one after the other: two at
once interleave in its tracker (and Rasa 3.6's Redis lock store has a known race, rasa#9213, that
only Rasa Pro fixes). The hub therefore holds a lock per customer from storing a message until
Rasa's replies to it are stored. Within a process it is an ``asyncio.Lock`` (first come, first
served); with several replicas (``BALCAO_REDIS_URL``) a Redis lock is taken inside it, so a turn
received by another replica waits too. The Redis lock is a short lease (``LEASE_S``) that the
replica renews while the turn runs, up to ``turn_lock_s`` in all: a replica killed in the middle of
a turn stops renewing it, and delays that customer's next turn by at most the lease, never forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from redis.exceptions import LockError, RedisError

from core.tasks import stop_loop, wait_or_stop

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.lock import Lock

logger = logging.getLogger(__name__)

POLL_S = 0.01  # how often a turn waiting for another replica's turn looks again
LEASE_S = 5.0  # the Redis lock's time to live, renewed every third of it while the turn runs


class TurnLocks:
    """Per-customer locks: local, and shared through ``redis`` when there is one."""

    def __init__(self, redis: Redis | None = None, *, prefix: str = "balcao", hold_s: float = 30.0) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:turn:"
        self._hold_s = hold_s
        self._local: dict[tuple[str, str], asyncio.Lock] = {}
        self._waiting: dict[tuple[str, str], int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, channel: str, customer_id: str) -> AsyncIterator[None]:
        """Wait until no other turn of this customer runs (on any replica), then hold the turn."""
        key = (channel, customer_id)
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with self._local.setdefault(key, asyncio.Lock()), self._shared(f"{self._prefix}{channel}:{customer_id}"):
                yield
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:  # nobody else waits: forget the lock (one per customer)
                del self._waiting[key]
                self._local.pop(key, None)

    @contextlib.asynccontextmanager
    async def _shared(self, name: str) -> AsyncIterator[None]:
        """The Redis lock ``name`` while the block runs; without Redis (or when it fails), none:
        the customer is still answered, with only this replica's order kept."""
        if self._redis is None:
            yield
            return
        lease = min(self._hold_s, LEASE_S)
        lock = self._redis.lock(name, timeout=lease, sleep=POLL_S, blocking_timeout=self._hold_s * 2)
        try:
            acquired = await lock.acquire()
        except (RedisError, OSError) as exc:
            logger.warning("Redis: turn of %s taken without the shared lock: %s", name, exc)
            acquired = False
        else:
            if not acquired:
                logger.warning("turn of %s: the shared lock was still held after %.0f s; going on", name, self._hold_s * 2)
        ended = asyncio.Event()
        renewing = asyncio.create_task(self._renew(lock, lease, ended)) if acquired else None
        try:
            yield
        finally:
            if renewing is not None:
                await stop_loop(renewing, ended)
            if acquired:
                with contextlib.suppress(LockError, RedisError, OSError):  # expired or Redis gone: nothing to free
                    await lock.release()

    async def _renew(self, lock: Lock, lease: float, ended: asyncio.Event) -> None:
        """Keep the lease alive while the turn runs (until ``ended``), up to ``hold_s`` in all (a
        turn that outlives it lets the customer's next turn go on, as before)."""
        deadline = asyncio.get_running_loop().time() + self._hold_s - lease
        while asyncio.get_running_loop().time() < deadline:
            if await wait_or_stop(ended, lease / 3):
                return
            try:
                await lock.reacquire()  # its time to live is the lease again
            except (LockError, RedisError, OSError) as exc:
                logger.warning("turn lock %s not renewed: %s", lock.name, exc)
                return
