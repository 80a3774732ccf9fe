"""Outgoing webhooks: endpoints an admin registers, the deliveries written for them in the
transaction of the change they report, their signature, and what an admin reads and redoes.

A delivery is staged by ``note_appended``, the append listener the hub attaches to its sessions:
every ownership change handoff appends (a chat queued, claimed, closed, a survey answered) becomes
one ``webhook_deliveries`` row per endpoint that chose that event, in the same transaction, so a
change is reported if and only if it is committed. ``integrations.worker`` sends them."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.events import AppendListener
from core.models import aware, utcnow
from handoff.models import Conversation, OwnershipEvent
from insights.models import Survey
from integrations.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint

EVENTS = ("conversation.queued", "conversation.claimed", "conversation.closed", "survey.answered")
"""What an endpoint may choose to be told."""
SIGNATURE_HEADER = "X-Balcao-Signature"
SURVEY_DONE = "survey_done"  # the reason of the ending a survey's answer makes (desk.endings.finish_survey)
MAX_URL = 2000
_OVER = ("closing", "ended", "abandoned")  # the states of a conversation that is over for its customer


class WebhookRefused(ValueError):
    """An endpoint cannot be added (or a delivery redone) as asked: nothing was written."""

    def __init__(self, message: str, *, key: str, **params: object) -> None:
        super().__init__(message)
        self.key = key
        self.params = params


class UnknownWebhook(LookupError):
    """No endpoint or delivery has this id."""

    def __init__(self, what: str) -> None:
        super().__init__(f"there is no {what}")
        self.key = "unknown_webhook"
        self.params: dict[str, object] = {}


# -- signing ---------------------------------------------------------------------------------------


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Balcao-Signature`` value: ``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, body: bytes, header: str, *, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver does: the signature matches and its time is within ``tolerance_s`` of
    ``now`` (an old delivery replayed is refused)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


# -- where deliveries may go -----------------------------------------------------------------------


def _private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return not ip.is_global or ip.is_multicast


def check_url(url: str) -> str:
    """The URL trimmed, if it is http(s) with a host; ``WebhookRefused`` otherwise."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - read for its check: a port that is not a number raises
    except ValueError as exc:
        raise WebhookRefused("give an http:// or https:// URL with a host", key="bad_webhook_url") from exc
    if len(url) > MAX_URL or not url.isprintable() or " " in url or parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("give an http:// or https:// URL with a host", key="bad_webhook_url")
    if parts.username or parts.password:
        raise WebhookRefused("put no user or password in the URL: the signature proves who sends", key="bad_webhook_url")
    return url


async def check_target(url: str, *, allow_private: bool) -> None:
    """Refuse a URL whose host is (or resolves to) a loopback, private or link-local address,
    unless ``allow_private`` (BALCAO_WEBHOOKS_ALLOW_PRIVATE): the hub must not be made to call
    services behind the company's firewall. Checked when the endpoint is added and before every
    attempt (a name may be pointed elsewhere later)."""
    if allow_private:
        return
    host = urlsplit(url).hostname or ""
    try:
        addresses = [host] if _is_ip(host) else await _resolve(host)
    except OSError as exc:
        raise WebhookRefused(f"the host {host} cannot be resolved: {exc}", key="unresolved_webhook_host", host=host) from exc
    if any(_private(a) for a in addresses):
        raise WebhookRefused(
            f"{host} is a private or loopback address: webhooks go to public hosts only", key="private_webhook_host", host=host
        )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


async def _resolve(host: str) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


# -- endpoints -------------------------------------------------------------------------------------


def check_events(events: Iterable[str]) -> list[str]:
    """The events in their canonical order; ``WebhookRefused`` for none or an unknown one."""
    asked = set(events)
    unknown = sorted(asked - set(EVENTS))
    if unknown:
        raise WebhookRefused(f"unknown event {unknown[0]}: use {', '.join(EVENTS)}", key="bad_event", event=unknown[0])
    if not asked:
        raise WebhookRefused("choose at least one event", key="no_event")
    return [e for e in EVENTS if e in asked]


async def add_endpoint(
    session: AsyncSession, *, url: str, events: Iterable[str], created_by: str | None = None
) -> WebhookEndpoint:
    """Register an endpoint with a new secret (``whsec_…``). The caller checks the target first
    (``check_target``: it resolves names, which is not done inside a transaction)."""
    endpoint = WebhookEndpoint(
        url=check_url(url),
        secret="whsec_" + secrets.token_urlsafe(24),
        events=check_events(events),
        created_by=created_by,
        created_at=utcnow(),
    )
    session.add(endpoint)
    await session.flush()
    return endpoint


async def remove_endpoint(session: AsyncSession, endpoint_id: int) -> None:
    """Remove an endpoint with its deliveries and their log (nothing more is sent to it)."""
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise UnknownWebhook(f"webhook {endpoint_id}")
    ids = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint_id)
    await session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id))
    await session.delete(endpoint)
    await session.flush()


async def list_endpoints(session: AsyncSession) -> Sequence[WebhookEndpoint]:
    """Every endpoint, oldest first."""
    return (await session.execute(select(WebhookEndpoint).order_by(WebhookEndpoint.id))).scalars().all()


async def list_deliveries(session: AsyncSession, *, endpoint_id: int | None = None, limit: int = 50) -> Sequence[WebhookDelivery]:
    """The delivery log, newest first (of one endpoint, or of all)."""
    stmt = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if endpoint_id is not None:
        stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalars().all()


async def delivery_attempts(session: AsyncSession, delivery_id: int) -> Sequence[WebhookAttempt]:
    """Every attempt at one delivery, in order."""
    stmt = select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id).order_by(WebhookAttempt.number)
    return (await session.execute(stmt)).scalars().all()


async def redeliver(session: AsyncSession, delivery_id: int, *, max_attempts: int) -> WebhookDelivery:
    """Send a delivery again now (delivered or given up), with a fresh budget of attempts. One
    being sent right now is refused, so an attempt is never sent twice."""
    row = await session.get(WebhookDelivery, delivery_id)
    if row is None:
        raise UnknownWebhook(f"delivery {delivery_id}")
    now = utcnow()
    result = await session.execute(
        update(WebhookDelivery)
        .execution_options(synchronize_session=False)  # stored times are naive on SQLite: the row is refreshed below
        .where(
            WebhookDelivery.id == delivery_id,
            or_(WebhookDelivery.status != DeliveryStatus.SENDING.value, WebhookDelivery.locked_until < now),
        )
        .values(
            status=DeliveryStatus.PENDING.value,
            next_attempt_at=now,
            attempt_limit=WebhookDelivery.attempts + max_attempts,
            locked_until=None,
            lease=None,
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult
        raise WebhookRefused("this delivery is being sent right now: wait for the attempt to end", key="delivery_busy")
    await session.refresh(row)
    return row


async def prune_deliveries(session: AsyncSession, *, before: datetime) -> int:
    """Forget deliveries done (delivered or given up) before ``before``, with their attempts: the
    log holds what customers said in surveys, kept no longer than it is useful. Returns how many."""
    done = (DeliveryStatus.DELIVERED.value, DeliveryStatus.FAILED.value)
    old = select(WebhookDelivery.id).where(WebhookDelivery.status.in_(done), WebhookDelivery.created_at < before)
    ids = list((await session.execute(old)).scalars())
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        await session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(chunk)))
        await session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(chunk)))
    return len(ids)


async def forget_conversations(session: AsyncSession, conversation_ids: Sequence[str]) -> None:
    """Remove every delivery (sent or not) about these conversations, with its attempts: a
    customer's erasure (``desk.privacy``) reaches the bodies that named them."""
    ids = select(WebhookDelivery.id).where(WebhookDelivery.conversation_id.in_(conversation_ids))
    await session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.conversation_id.in_(conversation_ids)))


# -- staging: the append listener ------------------------------------------------------------------


def event_type(row: OwnershipEvent) -> str | None:
    """The webhook event an ownership change is, if any: queued; claimed (a person took it, or it
    was handed to one); closed (it ended for the customer: an agent closed it, the bot ended it, the
    customer left the queue); the survey answered (the ending its answer makes)."""
    if row.to_state == "queued":
        return "conversation.queued"
    if row.to_state == "human":
        return "conversation.claimed"
    if row.to_state == "ended" and row.reason == SURVEY_DONE:
        return "survey.answered"
    if row.to_state in _OVER and row.from_state not in _OVER:
        return "conversation.closed"
    return None


async def _payload(session: AsyncSession, row: OwnershipEvent, kind: str) -> dict[str, Any]:
    conversation = await session.get(Conversation, row.conversation_id)
    data: dict[str, Any] = {
        "conversation": {
            "id": row.conversation_id,
            "channel": conversation.channel if conversation else None,
            "customer_id": conversation.customer_id if conversation else None,
            "language": conversation.language if conversation else None,
            "state": row.to_state,
            "previous_state": row.from_state,
            "team_id": row.team_id,
            "agent_id": row.agent_id,
            "reason": row.reason,
        }
    }
    if kind == "survey.answered":
        survey = (await session.execute(select(Survey).where(Survey.conversation_id == row.conversation_id))).scalar_one_or_none()
        data["survey"] = {
            "score": survey.score if survey else None,
            "reason": survey.reason if survey else None,
            "ending": survey.ending if survey else None,
            "answered_at": aware(survey.answered_at).isoformat() if survey and survey.answered_at else None,
        }
    return data


def webhook_listener(max_attempts: int) -> AppendListener:
    """The append listener that stages deliveries, each with ``max_attempts`` tries."""

    async def note_appended(session: AsyncSession, row: Any) -> None:
        if not isinstance(row, OwnershipEvent):
            return
        kind = event_type(row)
        if kind is None:
            return
        endpoints = [e for e in await list_endpoints(session) if kind in (e.events or [])]
        if not endpoints:
            return
        event_id, now = uuid.uuid4().hex, utcnow()
        body = json.dumps(
            {"id": event_id, "type": kind, "created_at": aware(row.at).isoformat(), "data": await _payload(session, row, kind)},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        for endpoint in endpoints:
            session.add(
                WebhookDelivery(
                    endpoint_id=endpoint.id,
                    event_id=event_id,
                    event_type=kind,
                    conversation_id=row.conversation_id,
                    body=body,
                    status=DeliveryStatus.PENDING.value,
                    attempts=0,
                    attempt_limit=max_attempts,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        await session.flush()

    return note_appended


__all__ = [
    "EVENTS",
    "SIGNATURE_HEADER",
    "UnknownWebhook",
    "WebhookRefused",
    "add_endpoint",
    "check_events",
    "check_target",
    "check_url",
    "delivery_attempts",
    "event_type",
    "forget_conversations",
    "list_deliveries",
    "list_endpoints",
    "prune_deliveries",
    "redeliver",
    "remove_endpoint",
    "sign",
    "verify",
    "webhook_listener",
]
