"""The hub's services, each built from the settings: the knowledge index and its jobs, Rasa's
actions, the channels (widget, Telegram, WhatsApp) and their outbox, rate limits and the login
throttle, the integrations' webhooks. ``hub.app.create_app`` wires them into the app.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import APIRouter
from rasa_sdk.executor import ActionExecutor
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import bot.actions
import kb_index
from connectors import outbox
from connectors.base import InboundMessage, OutboxChannel
from connectors.login_throttle import LoginThrottle, build_login_throttle
from connectors.media import MediaStore
from connectors.outbox import DeliveryChange, OutboxWorker
from connectors.ratelimit import RateLimits, build_rate_limits
from connectors.widget import HandleInbound
from desk import Desk, EventBus
from hub.settings import Settings
from integrations import Integrations, WebhookOptions, WebhookWorker
from kb_index import KnowledgeIndex
from kb_index.refit import Refitter

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from connectors.telegram import TelegramChannel
    from connectors.whatsapp import WhatsAppChannel


logger = logging.getLogger(__name__)


async def team_articles(session: AsyncSession, team_id: str) -> list[str]:
    """The articles (ids) that hand customers to the team: a team they name is archived, not removed."""
    return sorted({a.id for a in await kb_index.list_articles(session, team=team_id, limit=1000)})


def open_index(settings: Settings) -> KnowledgeIndex:
    """The search index, reopened from ``var/index`` (the lifespan brings it up to date)."""
    return kb_index.open_index(
        settings.encoder,
        calibration_file=settings.calibration_file,
        cache_dir=settings.index_dir,
        persist=True,
        approx_threshold=settings.index_approx_threshold,
        approx_nprobe=settings.index_nprobe or None,
    )


def refitter(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    read_sessions: async_sessionmaker[AsyncSession],
    index: KnowledgeIndex,
) -> Refitter:
    """The job that shares the newest stored calibration and refits it as the knowledge base grows,
    with the out-of-scope examples that go with the calibration file (what a refit fits with)."""
    from kb_index.evaluation import read_out_of_scope_jsonl

    examples = read_out_of_scope_jsonl(kb_index.out_of_scope_path(settings.calibration_file))
    return Refitter(
        sessions,
        index,
        after=settings.kb_refit_after_versions,
        every_s=settings.kb_refit_check_seconds,
        out_of_scope=examples,
        read_sessions=read_sessions,
    )


def rasa_actions(desk: Desk) -> ActionExecutor:
    """The custom actions the Rasa server calls back (``/actions/webhook``)."""
    executor = ActionExecutor()
    for action in bot.actions.build_actions(desk):
        executor.register_action(action)
    return executor


def inbound_handler(desk: Desk) -> HandleInbound:
    """What every channel calls with a customer's message: the refusal's reason and sentence, if any."""

    async def handle(inbound: InboundMessage) -> tuple[str, str] | None:
        refusal = await desk.handle_inbound(inbound)
        return (refusal[0].value, refusal[1]) if refusal else None

    return handle


def media_store(settings: Settings) -> MediaStore:
    """Where customers' and agents' attachments are kept, served through signed links."""
    return MediaStore(
        settings.media_dir, settings.media_secret, public_url=settings.public_url, max_age_s=settings.media_link_max_age_s
    )


def rate_limits(settings: Settings) -> tuple[RateLimits, Redis | None]:
    """Per customer and per address; shared through Redis when there is one (its client is closed last)."""
    return build_rate_limits(
        customer_per_minute=settings.rate_customer_per_minute,
        customer_burst=settings.rate_customer_burst,
        ip_per_minute=settings.rate_ip_per_minute,
        ip_burst=settings.rate_ip_burst,
        trusted_proxies=settings.trusted_proxies,
        redis_url=settings.redis_url,
        redis_prefix=settings.redis_prefix,
    )


def login_throttle(settings: Settings, limits: RateLimits, redis: Redis | None) -> LoginThrottle:
    """Wrong passwords per account and per address, with growing waits (shared through Redis when there is one)."""
    return build_login_throttle(
        limits,
        account_attempts=settings.login_attempts_per_account,
        ip_attempts=settings.login_attempts_per_ip,
        lock_s=settings.login_lock_s,
        max_lock_s=settings.login_max_lock_s,
        checks_per_second=settings.login_checks_per_second,
        checks_burst=settings.login_checks_burst,
        redis=redis,
        redis_prefix=settings.redis_prefix,
    )


# --- the channels beside the widget ------------------------------------------------------------


@dataclass
class Channels:
    """Telegram and WhatsApp when enabled, and the webhook routers they need."""

    telegram: TelegramChannel | None = None
    whatsapp: WhatsAppChannel | None = None
    routers: list[APIRouter] = field(default_factory=list)

    @property
    def outbound(self) -> list[OutboxChannel]:
        """The channels whose messages go through the outbox worker."""
        return [c for c in (self.telegram, self.whatsapp) if c is not None]


def telegram(
    settings: Settings, desk: Desk, handle: HandleInbound, media: MediaStore, limits: RateLimits
) -> tuple[TelegramChannel, APIRouter | None]:
    """The Telegram channel, and its webhook's router unless it polls."""
    from connectors.telegram import TelegramChannel, build_application, telegram_router

    application = build_application(
        settings.telegram_bot_token,
        api_url=settings.telegram_api_url,
        polling=settings.telegram_mode == "polling",
        timeout_s=settings.telegram_timeout_s,
    )
    telegram = TelegramChannel(
        application,
        handle,
        desk.tell,
        default_language=settings.default_language,
        media=media,
        media_max_bytes=settings.media_inbound_max_bytes,
    )
    router = None
    if settings.telegram_mode == "webhook":
        router = telegram_router(telegram, settings.telegram_webhook_secret, limits=limits)
    return telegram, router


def whatsapp(
    settings: Settings, desk: Desk, handle: HandleInbound, media: MediaStore, limits: RateLimits
) -> tuple[WhatsAppChannel, APIRouter]:
    """The WhatsApp channel (Twilio), and the router of its message and status webhooks."""
    from datetime import timedelta

    from connectors.whatsapp import WhatsAppChannel, whatsapp_router

    whatsapp = WhatsAppChannel(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token,
        from_number=settings.twilio_whatsapp_from,
        status_callback_url=f"{settings.public_url.rstrip('/')}/webhooks/whatsapp/status",
        api_url=settings.twilio_api_url or None,
        window=timedelta(hours=settings.whatsapp_window_hours),
        followup_content_sid=settings.whatsapp_followup_content_sid or None,
        timeout_s=settings.twilio_timeout_s,
    )

    async def whatsapp_status(sid: str, status: str, error: str | None) -> None:
        async with desk.unit_of_work() as session:
            row = await outbox.record_status(session, provider_message_id=sid, status=status, error=error)
        if row is not None:
            await desk.delivery_changed([DeliveryChange(row.conversation_id, row.message_id, row.status, row.error)])

    router = whatsapp_router(
        whatsapp,
        handle,
        desk.tell,
        whatsapp_status,
        public_url=settings.public_url,
        language=settings.whatsapp_language,
        trust_proxy_headers=settings.trust_proxy_headers,
        limits=limits,
        media=media,
        media_max_bytes=settings.media_inbound_max_bytes,
    )
    return whatsapp, router


def channels(
    settings: Settings, desk: Desk, bus: EventBus, handle: HandleInbound, media: MediaStore, limits: RateLimits
) -> Channels:
    """The channels the settings enable, each added to the event bus."""
    channels = Channels()
    if settings.telegram_enabled:
        channels.telegram, router = telegram(settings, desk, handle, media, limits)
        bus.add_channel(channels.telegram)
        if router is not None:
            channels.routers.append(router)
    if settings.whatsapp_enabled:
        channels.whatsapp, router = whatsapp(settings, desk, handle, media, limits)
        bus.add_channel(channels.whatsapp)
        channels.routers.append(router)
    return channels


def outbox_worker(settings: Settings, sessions: async_sessionmaker[AsyncSession], channels: Channels, desk: Desk) -> OutboxWorker:
    """Sends the Telegram and WhatsApp messages the outbox holds, with retries; tells agents of failures."""
    return OutboxWorker(
        sessions,
        channels.outbound,
        backoff_s=settings.outbox_backoff_s,
        max_attempts=settings.outbox_max_attempts,
        on_change=desk.delivery_changed,
    )


def integration_services(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    read_sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]],
) -> Integrations:
    """The API tokens' hashing key and the webhook sender (every replica runs one; the database
    decides which sends each attempt)."""
    options = WebhookOptions(
        timeout_s=settings.webhooks_timeout_s,
        max_attempts=settings.webhooks_max_attempts,
        backoff_s=settings.webhooks_backoff_s,
        max_backoff_s=settings.webhooks_max_backoff_s,
        poll_s=settings.webhooks_poll_s,
        allow_private=settings.webhooks_allow_private,
        keep_days=settings.webhooks_keep_days,
    )
    worker = WebhookWorker(sessions, options, read_sessions=read_sessions)
    return Integrations(token_key=settings.secret_key.encode(), options=options, worker=worker)
