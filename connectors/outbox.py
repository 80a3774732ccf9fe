"""The durable outbox: every message for a Telegram or WhatsApp customer is a row written in the
same transaction as the message itself; a worker sends the rows in order per customer, retries with
backoff (or after the platform's ``retry_after``), and records what happened for the agents."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.base import OutboxChannel, RetryLater, SendFailed, Unreachable
from connectors.customers import get_customer, mark_unreachable
from connectors.models import UNSENT, UNSENT_ROWS, ChannelCustomer, Delivery, OutboxMessage
from core.events import Event
from core.models import aware, database_now, utcnow
from handoff.models import Conversation

logger = logging.getLogger(__name__)

# How much earlier than a row's first claim a platform's record of it may be dated: the platform's
# clock and the database's differ by a little, and the platform dates its messages to the second.
REPLAY_MARGIN = timedelta(seconds=2)
# A status never moves back: a late "sent" callback does not undo "read".
_RANK = {Delivery.SENT.value: 1, Delivery.DELIVERED.value: 2, Delivery.READ.value: 3}


class DeliveryChanged(Event):
    """A message to a customer failed, was not sent, or its platform status changed (for agents)."""

    type: Literal["delivery"] = "delivery"
    message_id: int | None
    status: str
    error: str | None = None


@dataclass(frozen=True)
class DeliveryChange:
    """What the worker or a status callback changed; the hub turns it into a ``DeliveryChanged``."""

    conversation_id: str | None
    message_id: int | None
    status: str
    error: str | None


OnChange = Callable[[list[DeliveryChange]], Awaitable[None]]


async def enqueue(
    session: AsyncSession,
    *,
    channel: str,
    customer_id: str,
    body: dict | None,
    conversation_id: str | None = None,
    message_id: int | None = None,
    not_sent_reason: str | None = None,
) -> OutboxMessage:
    """Add a message to send (or, with ``not_sent_reason``, record why it will not be sent)."""
    now = await database_now(session)  # due now by the clock every replica's worker reads
    row = OutboxMessage(
        channel=channel,
        customer_id=customer_id,
        conversation_id=conversation_id,
        message_id=message_id,
        body=body or {},
        status=Delivery.NOT_SENT.value if not_sent_reason else Delivery.PENDING.value,
        error=not_sent_reason,
        attempts=0,
        parts_sent=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def stage_event(
    session: AsyncSession, channel: OutboxChannel, event: Event, conversation: Conversation
) -> OutboxMessage | None:
    """Write the outbox row for a committed-to-be event the customer should see (same transaction)."""
    customer = await get_customer(session, channel=channel.name, customer_id=event.customer_id)
    plan = await channel.plan(session, event, conversation, customer, utcnow())
    if plan is None:
        return None
    return await enqueue(
        session,
        channel=channel.name,
        customer_id=event.customer_id,
        conversation_id=event.conversation_id,
        message_id=getattr(event, "message_id", None),
        body=plan.body,
        not_sent_reason=plan.not_sent_reason,
    )


async def record_status(
    session: AsyncSession, *, provider_message_id: str, status: str, error: str | None = None
) -> OutboxMessage | None:
    """Apply a platform's status report (sent, delivered, read, failed); returns the row if it changed."""
    row = (
        await session.execute(select(OutboxMessage).where(OutboxMessage.provider_message_id == provider_message_id))
    ).scalar_one_or_none()
    if row is None:
        return None
    if status == Delivery.FAILED.value:
        if row.status in (Delivery.DELIVERED.value, Delivery.READ.value, Delivery.FAILED.value):
            return None
    elif _RANK.get(status, 0) <= _RANK.get(row.status, 0):
        return None
    row.status = status
    row.error = error if status == Delivery.FAILED.value else row.error
    row.updated_at = utcnow()
    await session.flush()
    return row


async def delivery_of_messages(session: AsyncSession, message_ids: Sequence[int]) -> dict[int, dict]:
    """How each of these messages fared on its way to the customer (for the agents' view)."""
    if not message_ids:
        return {}
    rows = (await session.execute(select(OutboxMessage).where(OutboxMessage.message_id.in_(message_ids)))).scalars()
    return {
        r.message_id: {
            "status": r.status,
            "attempts": r.attempts,
            "error": r.error,
            "updated_at": aware(r.updated_at).isoformat(),
        }
        for r in rows
        if r.message_id is not None
    }


async def customer_outbox(session: AsyncSession, *, channel: str, customer_id: str) -> Sequence[OutboxMessage]:
    """Every outbox row of a customer, oldest first."""
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.channel == channel, OutboxMessage.customer_id == customer_id)
        .order_by(OutboxMessage.id)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalars().all()


@dataclass
class _Outcome:
    row: OutboxMessage
    status: str
    provider_id: str | None = None
    error: str | None = None
    attempts: int | None = None
    next_attempt_at: datetime | None = None


class OutboxWorker:
    """Sends due outbox rows: one customer's rows strictly in order, customers concurrently.

    Rows are claimed with a lease, so a crashed worker's rows are sent by the next one, and two
    replicas never send the same row twice at the same time.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        channels: Sequence[OutboxChannel],
        *,
        backoff_s: float = 1.0,
        max_backoff_s: float = 300.0,
        max_attempts: int = 10,
        lease_s: float = 60.0,
        idle_poll_s: float = 5.0,
        on_change: OnChange | None = None,
    ) -> None:
        self.sessions = sessions
        self.channels = {c.name: c for c in channels}
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_attempts = max_attempts
        self.lease = timedelta(seconds=lease_s)
        self.idle_poll_s = idle_poll_s
        self.on_change = on_change
        self._wake = asyncio.Event()
        self._busy: set[tuple[str, str]] = set()
        self._skew = timedelta(0)  # the database's clock minus this process's, as of the last dispatch
        self._tasks: set[asyncio.Task] = set()
        for channel in channels:
            channel.wake = self.wake

    def wake(self) -> None:
        """New rows were committed: look for due rows now."""
        self._wake.set()

    async def run(self) -> None:
        """Dispatch until cancelled."""
        try:
            while True:
                try:
                    wait_s = await self.dispatch()
                except Exception:  # the database hiccuped: try again shortly
                    logger.exception("outbox dispatch failed")
                    wait_s = 1.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=wait_s)
                self._wake.clear()
        finally:
            for task in list(self._tasks):
                task.cancel()

    async def dispatch(self) -> float:
        """Claim the due head-of-line rows of every idle customer and start sending them.
        Returns how long to wait before the next row falls due."""
        next_due = self.idle_poll_s
        claimed: dict[tuple[str, str], list[OutboxMessage]] = {}
        addresses: dict[tuple[str, str], str | None] = {}
        async with self.sessions() as session, session.begin():
            # Leases and due times are read by the database's clock: a replica whose clock runs
            # ahead must not take rows another replica is sending (they would reach the customer twice).
            now = await database_now(session)
            self._skew = now - utcnow()
            for key, queue in (await self._unsent_by_customer(session)).items():
                head = queue[0]
                if key in self._busy:
                    continue
                if head.status == Delivery.SENDING.value and head.locked_until is not None and aware(head.locked_until) > now:
                    continue  # another worker holds it
                due = aware(head.next_attempt_at)
                if due > now:
                    next_due = min(next_due, (due - now).total_seconds())
                    continue
                mine = await self._claim(session, queue, now)
                if mine:
                    claimed[key] = mine
            if claimed:
                addresses = await self._addresses(session, list(claimed))
        for key, queue in claimed.items():
            self._busy.add(key)
            task = asyncio.create_task(self._drain(key, queue, addresses.get(key)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return max(0.01, next_due)

    async def _unsent_by_customer(self, session: AsyncSession) -> dict[tuple[str, str], list[OutboxMessage]]:
        """The oldest unsent rows of this worker's channels, each customer's in order."""
        rows = (
            (
                await session.execute(
                    select(OutboxMessage)
                    # Literal SQL, the partial index's own predicate: a prepared statement with the
                    # statuses as parameters may get a generic plan, which cannot use that index.
                    .where(UNSENT_ROWS, OutboxMessage.channel.in_(list(self.channels)))
                    .order_by(OutboxMessage.id)
                    .limit(500)
                )
            )
            .scalars()
            .all()
        )
        by_customer: dict[tuple[str, str], list[OutboxMessage]] = {}
        for row in rows:
            by_customer.setdefault((row.channel, row.customer_id), []).append(row)
        return by_customer

    async def _claim(self, session: AsyncSession, queue: list[OutboxMessage], now: datetime) -> list[OutboxMessage]:
        """Lease a customer's rows in order, stopping at the first another worker took meanwhile."""
        mine = []
        for row in queue:
            result = await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == row.id,
                    or_(
                        OutboxMessage.status == Delivery.PENDING.value,
                        OutboxMessage.locked_until < now,
                    ),
                    OutboxMessage.status.in_(UNSENT),
                )
                .values(
                    status=Delivery.SENDING.value,
                    locked_until=now + self.lease,
                    first_attempt_at=func.coalesce(OutboxMessage.first_attempt_at, now),
                )
                # The rows in memory keep what they were before this claim: the drain reads their
                # earlier first_attempt_at to know whether a send may already have happened.
                .execution_options(synchronize_session=False)
            )
            if cast(CursorResult, result).rowcount != 1:  # an UPDATE's result is a CursorResult
                break
            mine.append(row)
        return mine

    @staticmethod
    async def _addresses(session: AsyncSession, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        """The channel address of each (channel, customer id)."""
        customers = (
            await session.execute(
                select(ChannelCustomer).where(
                    or_(
                        *(
                            (ChannelCustomer.channel == channel) & (ChannelCustomer.customer_id == customer_id)
                            for channel, customer_id in keys
                        )
                    )
                )
            )
        ).scalars()
        return {(c.channel, c.customer_id): c.address for c in customers}

    def _retry_at(self, row: OutboxMessage, exc: RetryLater) -> tuple[int, datetime | None]:
        attempts = row.attempts + 1
        if attempts >= self.max_attempts:
            return attempts, None
        delay = exc.after_s if exc.after_s is not None else min(self.max_backoff_s, self.backoff_s * 2 ** (attempts - 1))
        return attempts, utcnow() + self._skew + timedelta(seconds=delay)

    async def _drain(self, key: tuple[str, str], queue: list[OutboxMessage], address: str | None) -> None:
        channel = self.channels[key[0]]
        outcomes: list[_Outcome] = []
        unreachable: str | None = None
        try:
            for index, row in enumerate(queue):
                try:
                    if not address:
                        raise SendFailed("no address is known for this customer")
                    provider_id = await self._taken_earlier(channel, row, address)
                    if provider_id is None:
                        provider_id = await channel.send(row, address)
                    outcomes.append(_Outcome(row, Delivery.SENT.value, provider_id=provider_id, attempts=row.attempts + 1))
                    continue
                except SendFailed as exc:
                    outcomes.append(_Outcome(row, Delivery.FAILED.value, error=str(exc), attempts=row.attempts + 1))
                    continue  # one refused message must not hold back the next ones
                except Unreachable as exc:
                    unreachable = str(exc)
                    outcomes.append(_Outcome(row, Delivery.FAILED.value, error=unreachable, attempts=row.attempts + 1))
                    outcomes += [
                        _Outcome(r, Delivery.NOT_SENT.value, error=f"customer unreachable: {unreachable}")
                        for r in queue[index + 1 :]
                    ]
                    break
                except Exception as exc:  # RetryLater, or something unexpected (a bug, a timeout)
                    if not isinstance(exc, RetryLater):
                        logger.exception("sending outbox row %s failed unexpectedly", row.id)
                        exc = RetryLater(f"{type(exc).__name__}: {exc}")
                    attempts, at = self._retry_at(row, exc)
                    if at is None:
                        outcomes.append(
                            _Outcome(
                                row, Delivery.FAILED.value, error=f"gave up after {attempts} attempts: {exc}", attempts=attempts
                            )
                        )
                        continue
                    logger.info("outbox row %s: %s; retrying at %s", row.id, exc, at.isoformat())
                    outcomes.append(_Outcome(row, Delivery.PENDING.value, error=str(exc), attempts=attempts, next_attempt_at=at))
                    outcomes += [_Outcome(r, Delivery.PENDING.value) for r in queue[index + 1 :]]
                    break
            await self._record(key, outcomes, unreachable)
        except Exception:
            logger.exception("recording outbox outcomes failed; the lease will expire and they are retried")
        finally:
            self._busy.discard(key)
            self.wake()

    async def _taken_earlier(self, channel: OutboxChannel, row: OutboxMessage, address: str) -> str | None:
        """For a row claimed before (``first_attempt_at`` was set by an earlier claim): the platform's
        id of the message if the platform took it then, although the answer never came back."""
        if row.first_attempt_at is None or not channel.confirms_sends:
            return None
        # Twilio's clock, not ours, dates its messages: look a little earlier than the first claim.
        since = aware(row.first_attempt_at) - REPLAY_MARGIN
        async with self.sessions() as session:
            known = (
                await session.execute(
                    select(OutboxMessage.provider_message_id).where(
                        OutboxMessage.channel == row.channel,
                        OutboxMessage.customer_id == row.customer_id,
                        OutboxMessage.id != row.id,
                        OutboxMessage.provider_message_id.is_not(None),
                        OutboxMessage.updated_at >= since,
                    )
                )
            ).scalars()
            exclude = {str(k) for k in known}
        return await channel.accepted_since(row, address, since, exclude)

    async def _record(self, key: tuple[str, str], outcomes: list[_Outcome], unreachable: str | None) -> None:
        now = utcnow()
        changes: list[DeliveryChange] = []
        async with self.sessions() as session, session.begin():
            for o in outcomes:
                values: dict = {"status": o.status, "locked_until": None, "updated_at": now, "parts_sent": o.row.parts_sent}
                if o.attempts is not None:
                    values["attempts"] = o.attempts
                if o.provider_id:
                    values["provider_message_id"] = o.provider_id
                if o.error is not None or o.status == Delivery.SENT.value:
                    values["error"] = o.error
                if o.next_attempt_at is not None:
                    values["next_attempt_at"] = o.next_attempt_at
                await session.execute(update(OutboxMessage).where(OutboxMessage.id == o.row.id).values(**values))
                if o.status in (Delivery.FAILED.value, Delivery.NOT_SENT.value) or (
                    o.attempts == 1 and o.status == Delivery.PENDING.value
                ):
                    changes.append(DeliveryChange(o.row.conversation_id, o.row.message_id, o.status, o.error))
            if unreachable:
                await mark_unreachable(session, channel=key[0], customer_id=key[1], reason=unreachable)
        if changes and self.on_change is not None:
            await self.on_change(changes)
