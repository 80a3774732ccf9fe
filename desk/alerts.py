"""Delivery of detractor alerts outside the consoles: the webhook and the e-mail to the team's
supervisors, both after commit and without making the customer wait."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

import handoff
from desk.config import DeskSettings
from insights.alerts import DetractorAlert, EmailFailed, SmtpConfig, WebhookFailed, post_webhook, send_alert_email

logger = logging.getLogger(__name__)


class AlertDelivery:
    """One per desk: sends alerts in the background (kept referenced until they end)."""

    def __init__(self, settings: DeskSettings) -> None:
        self.settings = settings
        self._background: set[asyncio.Task] = set()

    async def recipients(self, session: AsyncSession, team_id: str | None) -> list[str]:
        """Who is e-mailed an alert of ``team_id``: its supervisors and ``smtp_to`` (nobody
        without an SMTP server)."""
        if not self.settings.smtp_host:
            return []
        supervisors = await handoff.team_supervisors(session, team_id)
        return sorted({*self.settings.smtp_to, *(u.email for u in supervisors)})

    def send(self, alert: DetractorAlert, recipients: list[str]) -> None:
        """Post the webhook (when set) and e-mail ``recipients``, without waiting for either."""
        if self.settings.detractor_webhook_url:
            self._in_background(self._post(alert))
        if recipients:
            self._in_background(self._email(alert, recipients))

    async def _post(self, alert: DetractorAlert) -> None:
        try:
            await post_webhook(self.settings.detractor_webhook_url, alert)
        except WebhookFailed as exc:
            logger.warning("%s", exc)

    async def _email(self, alert: DetractorAlert, recipients: list[str]) -> None:
        s = self.settings
        config = SmtpConfig(
            host=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password,
            starttls=s.smtp_starttls,
            use_ssl=s.smtp_ssl,
            sender=s.smtp_from,
        )
        dashboard_url = f"{s.public_url.rstrip('/')}/dashboard" if s.public_url else ""
        try:
            await send_alert_email(config, recipients, alert, dashboard_url=dashboard_url)
        except EmailFailed as exc:
            logger.warning("%s", exc)

    def _in_background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
