"""Sends the webhook outbox: claims due deliveries by compare-and-set (two replicas never send the
same attempt), posts each signed body off the request path, logs every attempt, and retries with
backoff on a 5xx, 408, 429, a timeout or a connection error, up to the delivery's limit.

It follows ``connectors.outbox.OutboxWorker``'s lease pattern, without its per-customer ordering:
webhook deliveries are independent (each carries its event's id and time), so they are sent side
by side."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import httpx
from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.http import hub_client
from core.models import utcnow
from integrations.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from integrations.webhooks import SIGNATURE_HEADER, WebhookRefused, check_target, prune_deliveries, sign

logger = logging.getLogger(__name__)
RETRIED_CODES = frozenset({408, 429})  # besides every 5xx: the receiver asks to be tried later
MAX_ERROR = 500
PRUNE_EVERY_S = 3600.0


@dataclass(frozen=True)
class WebhookOptions:
    """How deliveries are sent (``BALCAO_WEBHOOKS_*``)."""

    timeout_s: float = 10.0
    max_attempts: int = 8
    backoff_s: float = 10.0
    max_backoff_s: float = 3600.0
    lease_s: float = 60.0
    poll_s: float = 1.0
    batch: int = 20
    allow_private: bool = False
    keep_days: float = 30.0  # done deliveries older than this are forgotten (checked hourly)


@dataclass(frozen=True)
class _Claimed:
    id: int
    lease: str
    number: int  # the attempt this is (1 for the first)
    limit: int
    body: str
    event_type: str
    url: str
    secret: str


@dataclass(frozen=True)
class _Result:
    code: int | None
    error: str | None
    ms: int

    @property
    def delivered(self) -> bool:
        return self.code is not None and 200 <= self.code < 300

    @property
    def retry(self) -> bool:
        if self.code is None:
            return self.error is not None and not self.error.startswith("refused:")
        return self.code >= 500 or self.code in RETRIED_CODES


class WebhookWorker:
    """One per hub process; every replica runs one, and the database decides who sends what."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        options: WebhookOptions | None = None,
        *,
        read_sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]] | None = None,
    ) -> None:
        self.sessions = sessions
        # Looking for due deliveries is a read: on SQLite a read session takes no write lock, so an
        # idle desk's poll never makes a request's transaction wait.
        self.read_sessions = read_sessions or sessions
        self.options = options or WebhookOptions()
        self._wake = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        # The lease outlasts any attempt (a send is cut at timeout_s), so a slow receiver's delivery
        # is never taken over by another replica while it is still being sent.
        self._lease = timedelta(seconds=max(self.options.lease_s, 3 * self.options.timeout_s))

    def wake(self) -> None:
        """Look for due deliveries now (after an admin's redelivery, say)."""
        self._wake.set()

    async def run(self) -> None:
        """Send until cancelled: up to ``batch`` attempts in flight, so one slow receiver never
        holds back the others' deliveries."""
        self._client = hub_client(timeout=self.options.timeout_s, follow_redirects=False)
        in_flight: set[asyncio.Task] = set()

        def finished(task: asyncio.Task) -> None:
            in_flight.discard(task)
            self.wake()  # a slot came free

        pruned_at = 0.0
        try:
            while True:
                if time.monotonic() - pruned_at >= PRUNE_EVERY_S:
                    pruned_at = time.monotonic()
                    await self.prune()
                room, claimed = self.options.batch - len(in_flight), []
                try:
                    claimed = await self._claim(room) if room > 0 else []
                except Exception:  # the database hiccuped: try again shortly
                    logger.exception("webhook dispatch failed")
                for c in claimed:
                    task = asyncio.create_task(self._attempt(c))
                    in_flight.add(task)
                    task.add_done_callback(finished)
                if claimed and len(claimed) == room:
                    continue  # there may be more due right now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.options.poll_s)
                self._wake.clear()
        finally:
            # Cut short: an attempt not recorded is made again once its lease ends (receivers
            # deduplicate on X-Balcao-Delivery).
            for task in list(in_flight):
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            await self._client.aclose()
            self._client = None

    async def prune(self) -> int:
        """Forget the deliveries done more than ``keep_days`` ago (any replica may; deleting twice is harmless)."""
        try:
            async with self.sessions() as session, session.begin():
                return await prune_deliveries(session, before=utcnow() - timedelta(days=self.options.keep_days))
        except Exception:  # the next hour's pass tries again
            logger.exception("pruning the webhook log failed")
            return 0

    async def dispatch(self) -> int:
        """One pass: claim the due deliveries (up to a batch), send them side by side, record each.
        Returns how many were sent."""
        claimed = await self._claim(self.options.batch)
        if claimed:
            await asyncio.gather(*(self._attempt(c) for c in claimed))
        return len(claimed)

    def _due(self, now: datetime):  # noqa: ANN202 - a SQL condition
        return or_(
            and_(WebhookDelivery.status == DeliveryStatus.PENDING.value, WebhookDelivery.next_attempt_at <= now),
            and_(WebhookDelivery.status == DeliveryStatus.SENDING.value, WebhookDelivery.locked_until < now),
        )

    async def _claim(self, limit: int) -> list[_Claimed]:
        now = utcnow()
        claimed: list[_Claimed] = []
        async with self.read_sessions() as reading:
            rows = (
                await reading.execute(
                    select(WebhookDelivery, WebhookEndpoint.url, WebhookEndpoint.secret)
                    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                    .where(self._due(now))
                    .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                    .limit(limit)
                )
            ).all()
        if not rows:
            return claimed
        async with self.sessions() as session, session.begin():
            for delivery, url, secret in rows:
                lease = uuid.uuid4().hex
                # Compare-and-set on the attempt count: of two replicas that read the same row, one
                # moves it and the other's update matches nothing.
                result = await session.execute(
                    update(WebhookDelivery)
                    .execution_options(synchronize_session=False)  # stored times are naive on SQLite: no in-Python match
                    .where(WebhookDelivery.id == delivery.id, WebhookDelivery.attempts == delivery.attempts, self._due(now))
                    .values(
                        status=DeliveryStatus.SENDING.value,
                        attempts=delivery.attempts + 1,
                        lease=lease,
                        locked_until=now + self._lease,
                    )
                )
                if cast(CursorResult, result).rowcount == 1:  # an UPDATE's result is a CursorResult
                    claimed.append(
                        _Claimed(
                            delivery.id, lease, delivery.attempts + 1, delivery.attempt_limit, delivery.body,
                            delivery.event_type, url, secret,
                        )
                    )  # fmt: skip
        return claimed

    async def _send(self, c: _Claimed) -> _Result:
        started = time.monotonic()
        body = c.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Balcao-Webhooks/1",
            "X-Balcao-Event": c.event_type,
            "X-Balcao-Delivery": str(c.id),
            SIGNATURE_HEADER: sign(c.secret, body, int(time.time())),
        }
        try:
            await check_target(c.url, allow_private=self.options.allow_private)
            if self._client is not None:
                response = await self._client.post(c.url, content=body, headers=headers)
            else:  # dispatched without ``run`` (a one-off pass): a client for this attempt only
                async with hub_client(timeout=self.options.timeout_s, follow_redirects=False) as client:
                    response = await client.post(c.url, content=body, headers=headers)
            code, error = response.status_code, None if response.is_success else f"HTTP {response.status_code}"
        except WebhookRefused as exc:
            code, error = None, f"refused: {exc}"
        except httpx.TimeoutException:
            code, error = None, f"no answer in {self.options.timeout_s:g} s"
        except httpx.HTTPError as exc:
            code, error = None, f"{type(exc).__name__}: {exc}"
        return _Result(code, error[:MAX_ERROR] if error else None, round((time.monotonic() - started) * 1000))

    async def _attempt(self, c: _Claimed) -> None:
        try:
            result = await self._send(c)
            await self._record(c, result)
        except Exception:  # recording failed: the lease expires and the attempt is made again
            logger.exception("webhook delivery %s: the attempt was not recorded", c.id)

    async def _record(self, c: _Claimed, result: _Result) -> None:
        now = utcnow()
        values: dict = {"locked_until": None, "lease": None, "last_status_code": result.code, "last_error": result.error}
        if result.delivered:
            values.update(status=DeliveryStatus.DELIVERED.value, delivered_at=now)
        elif result.retry and c.number < c.limit:
            delay = min(self.options.max_backoff_s, self.options.backoff_s * 2 ** (c.number - 1))
            values.update(status=DeliveryStatus.PENDING.value, next_attempt_at=now + timedelta(seconds=delay))
        else:
            values.update(status=DeliveryStatus.FAILED.value)
        async with self.sessions() as session, session.begin():
            session.add(
                WebhookAttempt(
                    delivery_id=c.id, number=c.number, at=now, status_code=result.code, error=result.error, duration_ms=result.ms
                )
            )
            await session.execute(
                update(WebhookDelivery)
                .execution_options(synchronize_session=False)  # nothing loaded here to keep in step
                .where(WebhookDelivery.id == c.id, WebhookDelivery.lease == c.lease)
                .values(**values)
            )
        if not result.delivered:
            logger.info("webhook delivery %s attempt %d: %s", c.id, c.number, result.error)
