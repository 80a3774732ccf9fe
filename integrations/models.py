"""Tables owned by integrations: the tokens of the HTTP API, the webhook endpoints, and the outbox
of webhook deliveries with the log of every attempt."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.models import TYPE_ANNOTATION_MAP, package_metadata, utcnow


class Base(DeclarativeBase):
    """The declarative base of integrations' tables (their own metadata)."""

    metadata = package_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


class IntegrationToken(Base):
    """A token a CRM or an order system sends as ``Authorization: Bearer …``. Only its keyed hash
    is kept (the token itself is shown once, when it is made); revoking it is for good."""

    __tablename__ = "integration_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex HMAC-SHA256 of the token
    hint: Mapped[str] = mapped_column(String(16))  # its first characters, to tell tokens apart on the page
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    created_by: Mapped[str | None] = mapped_column(String(254), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class WebhookEndpoint(Base):
    """A URL that receives the chosen conversation events, signed with its own secret."""

    __tablename__ = "webhook_endpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))  # signs the deliveries: kept as is (it must be)
    events: Mapped[list] = mapped_column(JSON, default=list)
    created_by: Mapped[str | None] = mapped_column(String(254), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryStatus(str, enum.Enum):
    """Where a webhook delivery is: waiting (maybe for a retry), being sent, done or given up."""

    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookDelivery(Base):
    """One event for one endpoint: written in the transaction of the change it reports, sent by
    ``integrations.worker.WebhookWorker`` (claimed by compare-and-set, so one replica sends each
    attempt), retried with backoff up to ``attempt_limit``; an admin may send it again."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(32))  # the same for every endpoint told of one event
    event_type: Mapped[str] = mapped_column(String(40))
    conversation_id: Mapped[str | None] = mapped_column(String(36), default=None)
    body: Mapped[str] = mapped_column(Text)  # the exact JSON sent (and signed), every attempt the same
    status: Mapped[str] = mapped_column(String(12), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    attempt_limit: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    lease: Mapped[str | None] = mapped_column(String(32), default=None)  # who holds the attempt being sent
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),  # the worker's query
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),  # the log, newest first
    )


class WebhookAttempt(Base):
    """One try at sending a delivery: when, what the receiver answered or what went wrong."""

    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(String(500), default=None)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
