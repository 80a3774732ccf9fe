"""Integrations: an HTTP API for a CRM or an order system (tokens with scopes, ``/api/v1``) and
outgoing webhooks on conversation events (signed, sent from an outbox with retries, with a delivery
log admins read and redo). It imports handoff, connectors and insights; the desk (a customer's
erasure) and the hub import it."""

from integrations.models import DeliveryStatus, IntegrationToken, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from integrations.state import Integrations
from integrations.tokens import SCOPES, TokenRefused, UnknownToken, create_token, find_token, revoke_token
from integrations.webhooks import (
    EVENTS,
    SIGNATURE_HEADER,
    UnknownWebhook,
    WebhookRefused,
    add_endpoint,
    redeliver,
    remove_endpoint,
    sign,
    verify,
    webhook_listener,
)
from integrations.worker import WebhookOptions, WebhookWorker

__all__ = [
    "EVENTS",
    "SCOPES",
    "SIGNATURE_HEADER",
    "DeliveryStatus",
    "IntegrationToken",
    "Integrations",
    "TokenRefused",
    "UnknownToken",
    "UnknownWebhook",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookOptions",
    "WebhookRefused",
    "WebhookWorker",
    "add_endpoint",
    "create_token",
    "find_token",
    "redeliver",
    "remove_endpoint",
    "revoke_token",
    "sign",
    "verify",
    "webhook_listener",
]
