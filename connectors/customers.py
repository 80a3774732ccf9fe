"""Customer records per channel: who wrote, in which language, and whether we can still reach them."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.base import InboundMessage
from connectors.models import ChannelCustomer
from core.models import utcnow


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
