"""Detractor alerts: a typed event for the supervisors' screens, an optional webhook and an
optional e-mail (SMTP)."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal

import httpx

from core.events import Event

logger = logging.getLogger(__name__)


class DetractorAlert(Event):
    """A customer answered 0–6. Sent after commit to supervisors (and the webhook, when set)."""

    type: Literal["detractor"] = "detractor"
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


@dataclass(frozen=True)
class SmtpConfig:
    """Where detractor e-mails go out (``BALCAO_SMTP_*``)."""

    host: str
    port: int = 587
    username: str = ""
    password: str = ""
    starttls: bool = True  # upgrade a plain connection (port 587)
    use_ssl: bool = False  # TLS from the start (port 465)
    sender: str = "balcao@localhost"
    timeout_s: float = 10.0


class EmailFailed(Exception):
    """The SMTP server refused the alert or could not be reached (the reason is in the message)."""


def alert_email(alert: DetractorAlert, *, sender: str, recipients: Sequence[str], dashboard_url: str = "") -> EmailMessage:
    """The plain-text e-mail of a detractor alert (the customer's words are quoted as they wrote them)."""
    message = EmailMessage()
    team = alert.team_id or "bot only"
    message["Subject"] = f"Detractor: {alert.score}/10 on {alert.channel} ({team})"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    lines = [
        f"A customer answered {alert.score} to the NPS question.",
        "",
        f"Conversation: {alert.conversation_id}",
        f"Channel: {alert.channel} (customer {alert.customer_id})",
        f"Team: {team}" + (f", agent #{alert.agent_id}" if alert.agent_id is not None else ""),
        f"Reason: {alert.reason}" if alert.reason else "Reason: (none given)",
    ]
    if alert.follow_up_id is not None:
        lines += ["", f"A follow-up (#{alert.follow_up_id}) is waiting in the agents' console for someone to call them back."]
    if dashboard_url:
        lines += ["", f"Dashboard: {dashboard_url}"]
    message.set_content("\n".join(lines) + "\n")
    return message


def _send(config: SmtpConfig, message: EmailMessage) -> None:
    context = ssl.create_default_context()
    if config.use_ssl:
        client: smtplib.SMTP = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout_s, context=context)
    else:
        client = smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)
    with client:
        if config.starttls and not config.use_ssl:
            client.starttls(context=context)
        if config.username:
            client.login(config.username, config.password)
        client.send_message(message)


async def send_alert_email(
    config: SmtpConfig, recipients: Sequence[str], alert: DetractorAlert, *, dashboard_url: str = ""
) -> None:
    """E-mail the alert to ``recipients`` (stdlib ``smtplib`` in a worker thread); raises
    ``EmailFailed`` when the server cannot be reached or refuses it."""
    if not recipients:
        return
    message = alert_email(alert, sender=config.sender, recipients=recipients, dashboard_url=dashboard_url)
    try:
        await asyncio.to_thread(_send, config, message)
    except (smtplib.SMTPException, OSError) as exc:
        raise EmailFailed(f"detractor e-mail via {config.host}:{config.port}: {exc!r}") from exc
