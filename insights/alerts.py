"""Detractor alerts: a typed event for the supervisors' screens and an optional webhook."""

from __future__ import annotations

import logging
from typing import Literal

import httpx
from pydantic import BaseModel

logger = logging.getLogger(__name__)


class DetractorAlert(BaseModel):
    """A customer answered 0–6. Sent after commit to supervisors (and the webhook, when set)."""

    type: Literal["detractor"] = "detractor"
    conversation_id: str
    channel: str
    customer_id: str
    team_id: str | None = None
    agent_id: int | None = None
    score: int
    reason: str | None = None
    follow_up_id: int | None = None


class WebhookFailed(Exception):
    """The alert webhook did not accept the alert (the status or the network error is in the message)."""


async def post_webhook(url: str, alert: DetractorAlert, *, timeout_s: float = 5.0) -> None:
    """POST the alert as JSON to ``url``; raises ``WebhookFailed`` unless it answers 2xx."""
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.post(url, json=alert.model_dump(mode="json"))
    except httpx.HTTPError as exc:
        raise WebhookFailed(f"detractor webhook {url}: {exc!r}") from exc
    if response.status_code // 100 != 2:
        raise WebhookFailed(f"detractor webhook {url} answered {response.status_code}")
