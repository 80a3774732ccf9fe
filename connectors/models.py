"""Tables owned by connectors: who each customer is on their channel, and the durable outbox of
messages still to be sent to Telegram and WhatsApp."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.models import TYPE_ANNOTATION_MAP, package_metadata, utcnow


class Base(DeclarativeBase):
    """The declarative base of connectors' tables (their own metadata)."""

    metadata = package_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


class Delivery(str, enum.Enum):
    """Where an outbound message is. Only ``connectors.outbox`` changes it."""

    PENDING = "pending"  # waiting for its turn (or for its next attempt)
    SENDING = "sending"  # a worker holds it until ``locked_until``
    SENT = "sent"  # the platform accepted it
    DELIVERED = "delivered"  # the platform says it reached the phone (WhatsApp status callback)
    READ = "read"
    FAILED = "failed"  # given up: the reason is in ``error``
    NOT_SENT = "not_sent"  # deliberately not sent (customer unreachable, WhatsApp window closed)


UNSENT = (Delivery.PENDING.value, Delivery.SENDING.value)  # the rows the outbox worker still has to send
# The same, as literal SQL: a partial index's predicate, and the worker's query that must match it.
UNSENT_ROWS = text("status IN ({})".format(", ".join(f"'{status}'" for status in UNSENT)))


class ChannelCustomer(Base):
    """A customer as one channel knows them: what agents see, and where replies go."""

    __tablename__ = "channel_customers"
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str | None] = mapped_column(String(120), default=None)  # Telegram chat id, whatsapp:+E.164
    name: Mapped[str | None] = mapped_column(String(120), default=None)
    username: Mapped[str | None] = mapped_column(String(64), default=None)
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    unreachable_at: Mapped[datetime | None] = mapped_column(default=None)
    unreachable_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    # Widget customers the shop's site identified (connectors.identity): its id, e-mail and phone,
    # and when the signature last verified. Only what a valid signature carried is ever stored.
    external_id: Mapped[str | None] = mapped_column(String(120), default=None)
    email: Mapped[str | None] = mapped_column(String(254), default=None, index=True)
    phone: Mapped[str | None] = mapped_column(String(40), default=None, index=True)
    verified_at: Mapped[datetime | None] = mapped_column(default=None)
    # One person's records on several channels share it (connectors.customers.link_customers).
    person_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)


class OutboxMessage(Base):
    """One message to send to a customer, written in the same transaction as the message itself."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[str | None] = mapped_column(String(36), default=None)
    message_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)  # handoff's message, if any
    body: Mapped[dict] = mapped_column(JSON)  # what to send: text, buttons, or a template
    status: Mapped[str] = mapped_column(String(12), default=Delivery.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)  # of a long text split in parts
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    # Set when a worker first claims the row (database clock). A row claimed before may have reached
    # the platform although no answer said so (a timeout, a killed replica): see OutboxChannel.accepted_since.
    first_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    provider_message_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        # The worker's unsent rows in order: a partial index, which a plain index scan reads without
        # visiting the rows sent since (a bitmap scan of ix_outbox_due visited every dead version).
        Index("ix_outbox_unsent", "id", postgresql_where=UNSENT_ROWS, sqlite_where=UNSENT_ROWS),
    )
