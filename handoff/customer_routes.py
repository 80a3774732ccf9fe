"""Who the customer of a conversation is, for the console: the identity the shop's site verified,
their records on every channel that were linked as one person, and their conversations on all of
them; and linking another channel's record with them (``connectors.customers.link_customers``,
audited). Agents, supervisors and admins, for the conversations they may open."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

import handoff
from connectors import customers
from connectors.models import ChannelCustomer
from core.web import app_state
from handoff.audit import AuditAction, AuditClient, record_audit
from handoff.auth import Agent, DbSession, accessible_conversation, csrf_protected
from handoff.models import Conversation

router = APIRouter(prefix="/api/agent", tags=["agents"])
CONVERSATIONS_PER_RECORD = 10
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"  # no control characters (PostgreSQL refuses NUL in text)


class RecordOut(BaseModel):
    """One channel's record of the customer, as an agent may see it."""

    channel: str
    customer_id: str
    name: str | None
    username: str | None
    email: str | None
    phone: str | None
    shop_id: str | None = Field(description="the shop's own id of the customer, when its site identified them")
    verified_at: datetime | None = Field(description="when the shop's signed identity last verified")
    address: str | None = Field(description="the WhatsApp number or Telegram chat")

    @classmethod
    def of(cls, record: ChannelCustomer) -> RecordOut:
        return cls(
            channel=record.channel,
            customer_id=record.customer_id,
            name=record.name,
            username=record.username,
            email=record.email,
            phone=record.phone,
            shop_id=record.external_id,
            verified_at=record.verified_at,
            address=record.address if record.channel == "whatsapp" else None,
        )


class OtherConversation(BaseModel):
    id: str
    channel: str
    state: str
    team_id: str | None
    created_at: datetime


class CustomerCard(BaseModel):
    """The conversation's customer: their records (this channel's first) and conversations."""

    records: list[RecordOut]
    conversations: list[OtherConversation]


class LinkIn(BaseModel):
    channel: str = Field(min_length=1, max_length=20, pattern=ONE_LINE)
    customer_id: str = Field(min_length=1, max_length=64, pattern=ONE_LINE)


async def _card(session: AsyncSession, conversation: Conversation) -> CustomerCard:
    record = await customers.get_customer(session, channel=conversation.channel, customer_id=conversation.customer_id)
    records = await customers.linked_customers(session, record) if record else []
    found: list[Conversation] = []
    for r in records:
        found += await handoff.customer_conversations(
            session, channel=r.channel, customer_id=r.customer_id, limit=CONVERSATIONS_PER_RECORD
        )
    found.sort(key=lambda c: c.created_at, reverse=True)
    return CustomerCard(
        records=[RecordOut.of(r) for r in records],
        conversations=[
            OtherConversation(id=c.id, channel=c.channel, state=c.state, team_id=c.team_id, created_at=c.created_at)
            for c in found
        ],
    )


@router.get("/conversations/{conversation_id}/customer", response_model=CustomerCard)
async def customer_card(conversation_id: str, user: Agent, session: DbSession) -> CustomerCard:
    """Who the conversation's customer is (the shop's verified identity, their linked records on
    other channels) and their conversations on every channel, newest first."""
    return await _card(session, await accessible_conversation(session, conversation_id, user))


@router.get("/customers", response_model=list[RecordOut])
async def search(
    user: Agent, session: DbSession, q: str = Query(min_length=2, max_length=120, pattern=ONE_LINE)
) -> list[RecordOut]:
    """Customers on any channel whose name, e-mail, phone, username or shop id matches ``q``: the
    ones an agent may link with the customer of a conversation."""
    return [RecordOut.of(r) for r in await customers.search_customers(session, q)]


@router.post(
    "/conversations/{conversation_id}/customer/links", response_model=CustomerCard, dependencies=[Depends(csrf_protected)]
)
async def link(conversation_id: str, body: LinkIn, user: Agent, request: Request) -> CustomerCard:
    """Link another record (a Telegram or WhatsApp customer, a widget customer) with this
    conversation's customer: one person, whose conversations on every channel the console then
    shows. 404 for a record that does not exist, 409 for the same customer, one already linked,
    or a link someone made at the same moment; audited."""
    async with app_state(request).desk.unit_of_work() as session:
        conversation = await accessible_conversation(session, conversation_id, user)
        try:
            person = await customers.link_customers(
                session, (conversation.channel, conversation.customer_id), (body.channel, body.customer_id)
            )
        except customers.UnknownCustomerRecord as exc:
            raise HTTPException(404, str(exc)) from exc
        except (customers.LinkRefused, customers.LinkConflict) as exc:
            raise HTTPException(409, str(exc)) from exc
        await record_audit(
            session,
            actor=user,
            action=AuditAction.CUSTOMER_LINK,
            target_type="customer",
            target_id=person,
            details={"conversation": conversation_id, "channels": sorted({conversation.channel, body.channel})},
            client=AuditClient.of(request),
        )
        return await _card(session, conversation)
