"""Customer records per channel: who wrote, in which language, whether we can still reach them,
who the shop says they are (a verified identity) and which records are one person."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import cast

from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.base import InboundMessage
from connectors.identity import CustomerIdentity
from connectors.models import ChannelCustomer
from core.models import utcnow

_PHONE = re.compile(r"^\+?[\d\s().-]{6,40}$")
MAX_FOUND = 20  # customers a search lists: the agent narrows it down by typing more


class LinkRefused(ValueError):
    """Two records that cannot be linked (the same record, or already one person)."""


class UnknownCustomerRecord(LookupError):
    """No record of this customer on this channel."""

    def __init__(self, channel: str, customer_id: str) -> None:
        super().__init__(f"no {channel} customer {customer_id[:64]!r}: search again and pick one from the list")


class LinkConflict(RuntimeError):
    """Someone linked one of the two records at the same time: nothing was changed."""

    def __init__(self) -> None:
        super().__init__("one of these customers was linked by someone else just now: reload and try again")


async def get_customer(session: AsyncSession, *, channel: str, customer_id: str) -> ChannelCustomer | None:
    """The channel's record of this customer, if they ever wrote."""
    stmt = (
        select(ChannelCustomer)
        .where(ChannelCustomer.channel == channel, ChannelCustomer.customer_id == customer_id)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def remember_customer(session: AsyncSession, inbound: InboundMessage) -> ChannelCustomer:
    """Create or refresh the customer's record from their latest message. A customer who writes
    again is reachable again (e.g. they unblocked the bot)."""
    now = utcnow()
    customer = await get_customer(session, channel=inbound.channel, customer_id=inbound.customer_id)
    if customer is None:
        customer = ChannelCustomer(
            channel=inbound.channel,
            customer_id=inbound.customer_id,
            address=inbound.address,
            name=inbound.customer_name,
            username=inbound.username,
            language=inbound.language,
            first_seen_at=now,
            last_seen_at=now,
        )
        try:
            async with session.begin_nested():
                session.add(customer)
                await session.flush()
            return customer
        except IntegrityError:  # another replica recorded them first: refresh theirs
            customer = await get_customer(session, channel=inbound.channel, customer_id=inbound.customer_id)
            assert customer is not None  # noqa: S101 - the unique key just clashed, so their row exists
    customer.address = inbound.address or customer.address
    customer.name = inbound.customer_name or customer.name
    customer.username = inbound.username or customer.username
    customer.language = inbound.language or customer.language
    customer.last_seen_at = now
    customer.unreachable_at = None
    customer.unreachable_reason = None
    await session.flush()
    return customer


async def mark_unreachable(session: AsyncSession, *, channel: str, customer_id: str, reason: str) -> None:
    """The platform says this customer cannot be reached (they blocked the bot): stop sending."""
    await session.execute(
        update(ChannelCustomer)
        .where(ChannelCustomer.channel == channel, ChannelCustomer.customer_id == customer_id)
        .values(unreachable_at=utcnow(), unreachable_reason=reason[:200])
    )


async def remember_identity(
    session: AsyncSession, *, channel: str, customer_id: str, identity: CustomerIdentity
) -> ChannelCustomer:
    """Keep what a verified identity says of this customer (its signature was checked by the
    caller, ``connectors.identity.verify_identity``): the shop's id, name, e-mail and phone."""
    now = utcnow()
    customer = await get_customer(session, channel=channel, customer_id=customer_id)
    if customer is None:
        customer = ChannelCustomer(channel=channel, customer_id=customer_id, first_seen_at=now)
        try:
            async with session.begin_nested():
                session.add(customer)
                await session.flush()
        except IntegrityError:  # the same customer, opening a page on another replica at once
            customer = await get_customer(session, channel=channel, customer_id=customer_id)
            assert customer is not None  # noqa: S101 - the unique key just clashed, so their row exists
    customer.external_id = identity.id
    customer.name = identity.name or None
    customer.email = identity.email.strip().lower() or None
    customer.phone = normal_phone(identity.phone)
    customer.verified_at = customer.last_seen_at = now
    await session.flush()
    return customer


def normal_phone(phone: str) -> str | None:
    """A phone number as ``+5511987654321`` (spaces, dots, dashes and brackets dropped), so it
    matches the WhatsApp number of the same person; anything else is kept as written."""
    phone = phone.strip()
    if _PHONE.match(phone):
        return ("+" if phone.startswith("+") else "") + re.sub(r"\D", "", phone)
    return phone or None


async def linked_customers(session: AsyncSession, customer: ChannelCustomer) -> list[ChannelCustomer]:
    """Every record of the person ``customer`` is (``customer`` first), on every channel."""
    if customer.person_id is None:
        return [customer]
    stmt = select(ChannelCustomer).where(ChannelCustomer.person_id == customer.person_id)
    others = [
        c
        for c in (await session.execute(stmt)).scalars()
        if (c.channel, c.customer_id) != (customer.channel, customer.customer_id)
    ]
    return [customer, *sorted(others, key=lambda c: (c.channel, c.customer_id))]


async def link_customers(session: AsyncSession, first: tuple[str, str], second: tuple[str, str]) -> str:
    """Make two customer records (``(channel, customer_id)`` each), and everyone already linked
    with either, one person; returns the person's id. Compare-and-set: every record changes only
    if its person is still what was read, else ``LinkConflict`` and nothing changes.
    ``UnknownCustomerRecord`` for a record that does not exist, ``LinkRefused`` for the same
    record twice or two already linked."""
    if first == second:
        raise LinkRefused("that is this same customer: pick another one to link")
    records = []
    for channel, customer_id in (first, second):
        record = await get_customer(session, channel=channel, customer_id=customer_id)
        if record is None:
            raise UnknownCustomerRecord(channel, customer_id)
        records.append(record)
    a, b = records
    if a.person_id is not None and a.person_id == b.person_id:
        raise LinkRefused("these customers are already linked")
    person = a.person_id or b.person_id or uuid.uuid4().hex
    members = [*await linked_customers(session, a), *await linked_customers(session, b)]
    for member in members:
        changed = await session.execute(
            update(ChannelCustomer)
            .where(
                ChannelCustomer.channel == member.channel,
                ChannelCustomer.customer_id == member.customer_id,
                ChannelCustomer.person_id.is_(None)
                if member.person_id is None
                else ChannelCustomer.person_id == member.person_id,
            )
            .values(person_id=person)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult, changed).rowcount != 1:  # an UPDATE's result is a CursorResult
            raise LinkConflict()
    return person


async def search_customers(session: AsyncSession, query: str, *, limit: int = MAX_FOUND) -> Sequence[ChannelCustomer]:
    """Customers whose name, e-mail, phone, Telegram username or WhatsApp number holds ``query``
    (any case), or whose shop id is ``query``: the ones an agent may link."""
    q = query.strip()
    if len(q) < 2:
        return []
    like = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    stmt = (
        select(ChannelCustomer)
        .where(
            or_(
                func.lower(ChannelCustomer.name).like(like, escape="\\"),
                ChannelCustomer.email.like(like, escape="\\"),
                ChannelCustomer.phone.like(like, escape="\\"),
                ChannelCustomer.address.like(like, escape="\\"),
                func.lower(ChannelCustomer.username).like(like, escape="\\"),
                ChannelCustomer.external_id == q,
                *_digits_match(q),
            ),
            ChannelCustomer.customer_id.not_like("erased:%"),
        )
        .order_by(ChannelCustomer.last_seen_at.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


def _digits_match(query: str) -> list:
    """A query that is a phone number written any way matches the numbers stored (digits only)."""
    digits = re.sub(r"\D", "", query)
    if len(digits) < 6 or not _PHONE.match(query.strip()):
        return []
    return [ChannelCustomer.phone.like(f"%{digits}%"), ChannelCustomer.address.like(f"%{digits}%")]
