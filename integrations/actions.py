"""What an admin does to tokens and webhooks, each one function shared by the JSON API and the
page: one unit of work with the change and its audit entry. Refusals are raised before anything is
written: ``TokenRefused``, ``UnknownToken``, ``WebhookRefused``, ``UnknownWebhook``."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request

from core.web import app_state
from handoff.audit import AuditAction, AuditClient, record_audit
from handoff.models import User
from integrations import tokens, webhooks
from integrations.models import IntegrationToken, WebhookDelivery, WebhookEndpoint
from integrations.state import integrations_of

REFUSALS = (tokens.TokenRefused, tokens.UnknownToken, webhooks.WebhookRefused, webhooks.UnknownWebhook)
"""What these actions refuse with, each with a ``key`` the page's words name."""


def refusal_status(exc: Exception) -> int:
    """The HTTP status of a refusal: 404 for what does not exist, 409 for a delivery being sent, else 422."""
    if isinstance(exc, (tokens.UnknownToken, webhooks.UnknownWebhook)):
        return 404
    return 409 if getattr(exc, "key", None) == "delivery_busy" else 422


async def do_create_token(request: Request, admin: User, *, name: str, scopes: Iterable[str]) -> tuple[IntegrationToken, str]:
    """Make a token (returned once, with its row)."""
    async with app_state(request).desk.unit_of_work() as session:
        row, token = await tokens.create_token(
            session, name=name, scopes=scopes, key=integrations_of(request).token_key, created_by=admin.email
        )
        await record_audit(
            session,
            actor=admin,
            action=AuditAction.INTEGRATION_TOKEN_ADD,
            target_type="integration_token",
            target_id=row.id,
            details={"name": row.name, "scopes": row.scopes},
            client=AuditClient.of(request),
        )
    return row, token


async def do_revoke_token(request: Request, admin: User, token_id: int) -> IntegrationToken:
    """Revoke a token for good."""
    async with app_state(request).desk.unit_of_work() as session:
        row = await tokens.revoke_token(session, token_id)
        await record_audit(
            session,
            actor=admin,
            action=AuditAction.INTEGRATION_TOKEN_REVOKE,
            target_type="integration_token",
            target_id=row.id,
            details={"name": row.name},
            client=AuditClient.of(request),
        )
    return row


async def do_add_webhook(request: Request, admin: User, *, url: str, events: Iterable[str]) -> WebhookEndpoint:
    """Register an endpoint (its target checked before the transaction: that resolves its name)."""
    checked = webhooks.check_url(url)
    await webhooks.check_target(checked, allow_private=integrations_of(request).options.allow_private)
    async with app_state(request).desk.unit_of_work() as session:
        endpoint = await webhooks.add_endpoint(session, url=checked, events=events, created_by=admin.email)
        await record_audit(
            session,
            actor=admin,
            action=AuditAction.WEBHOOK_ADD,
            target_type="webhook",
            target_id=endpoint.id,
            details={"url": endpoint.url, "events": endpoint.events},
            client=AuditClient.of(request),
        )
    return endpoint


async def do_remove_webhook(request: Request, admin: User, endpoint_id: int) -> None:
    """Remove an endpoint and its delivery log."""
    async with app_state(request).desk.unit_of_work() as session:
        await webhooks.remove_endpoint(session, endpoint_id)
        await record_audit(
            session,
            actor=admin,
            action=AuditAction.WEBHOOK_REMOVE,
            target_type="webhook",
            target_id=endpoint_id,
            client=AuditClient.of(request),
        )


async def do_redeliver(request: Request, admin: User, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again now, with a fresh budget of attempts."""
    services = integrations_of(request)
    async with app_state(request).desk.unit_of_work() as session:
        row = await webhooks.redeliver(session, delivery_id, max_attempts=services.options.max_attempts)
        await record_audit(
            session,
            actor=admin,
            action=AuditAction.WEBHOOK_REDELIVER,
            target_type="webhook_delivery",
            target_id=delivery_id,
            details={"event": row.event_type},
            client=AuditClient.of(request),
        )
    services.worker.wake()
    return row
