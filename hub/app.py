"""The hub's ASGI app: wires kb_index, handoff, connectors and insights, and the Rasa actions."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from rasa_sdk.executor import ActionExecutor
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.middleware.sessions import SessionMiddleware

import bot.actions
import handoff
import handoff.admin_routes
import handoff.routes
import insights
import insights.routes
import kb_index
import kb_index.routes
from connectors import outbox
from connectors.base import OutboxChannel
from connectors.media import MediaStore, media_router
from connectors.outbox import DeliveryChange, OutboxWorker
from connectors.ratelimit import build_rate_limits
from connectors.widget import WidgetChannel, WidgetTokens, customer_view, widget_router
from core.headers import DEMO_POLICY, DOCS_POLICY, RoutePolicy, SecurityHeaders
from desk import Desk, EventBus, RasaClient, ReplicaRelay, actions_router, inactivity_loop
from handoff.auth import LoginRequired, auth_router, redirect_to_login
from hub.db import make_engine, make_read_sessionmaker, make_sessionmaker
from hub.pages import process_router
from hub.secret_store import ensure_secrets
from hub.settings import Settings, get_settings
from kb_index import IndexFollower

logger = logging.getLogger(__name__)
# Which routes get which security headers (core.headers): staff pages and the API get the strict
# policy (the default); what the widget loads on a shop's site stays embeddable.
ROUTE_POLICIES = (
    RoutePolicy("/", DEMO_POLICY, frameable=True),  # the demo shop page, which embeds the widget
    RoutePolicy("/widget.js", None, frameable=True),
    RoutePolicy("/widget/*", None, frameable=True),  # its session call (cross-origin, from the shop's page)
    RoutePolicy("/media/*", None, frameable=True),  # files sent in a chat, shown in the widget
    RoutePolicy("/docs", DOCS_POLICY),
    RoutePolicy("/docs/*", DOCS_POLICY),
    RoutePolicy("/redoc", DOCS_POLICY),
)
HANDOFF_DIR = Path(handoff.__file__).parent
INSIGHTS_DIR = Path(insights.__file__).parent
KB_DIR = Path(kb_index.__file__).parent


async def overloaded(request: Request, exc: Exception) -> Response:
    """No database connection came free in time (a flood of requests holds them all): 503 with
    Retry-After, which clients and proxies understand, instead of a 500."""
    logger.warning("no database connection free for %s %s: answered 503", request.method, request.url.path)
    return JSONResponse(
        {"detail": "the desk is busy: please try again in a few seconds"}, status_code=503, headers={"Retry-After": "5"}
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the hub. The index is loaded and the services started in the lifespan."""
    settings = ensure_secrets(settings or get_settings())
    engine = make_engine(settings.database_url)
    # Every row handoff appends (a conversation, a message, an ownership change) also updates
    # insights' KPI summaries, in the same transaction.
    sessions = make_sessionmaker(engine, listeners=[insights.note_appended])
    read_sessions = make_read_sessionmaker(engine)  # reads that must not take SQLite's write lock
    relay = ReplicaRelay(settings.redis_url, prefix=settings.redis_prefix) if settings.redis_url else None
    bus = EventBus(relay)
    widget = WidgetChannel()
    bus.add_channel(widget)
    rasa = RasaClient(settings.rasa_url, settings.rasa_token, timeout_s=settings.rasa_timeout_s, attempts=settings.rasa_attempts)
    index = kb_index.open_index(
        settings.encoder,
        calibration_file=settings.calibration_file,
        cache_dir=settings.index_dir,
        persist=True,
        approx_threshold=settings.index_approx_threshold,
        approx_nprobe=settings.index_nprobe or None,
    )
    desk = Desk(settings, sessions, index, bus, rasa)
    follower = IndexFollower(sessions, index, poll_seconds=settings.kb_poll_seconds, read_sessions=read_sessions)
    executor = ActionExecutor()
    for action in bot.actions.build_actions(desk):
        executor.register_action(action)

    async def handle(inbound):  # noqa: ANN001, ANN202 - see connectors.widget.HandleInbound
        refusal = await desk.handle_inbound(inbound)
        return (refusal[0].value, refusal[1]) if refusal else None

    media = MediaStore(
        settings.media_dir, settings.media_secret, public_url=settings.public_url, max_age_s=settings.media_link_max_age_s
    )
    limits, limits_redis = build_rate_limits(
        customer_per_minute=settings.rate_customer_per_minute,
        customer_burst=settings.rate_customer_burst,
        ip_per_minute=settings.rate_ip_per_minute,
        ip_burst=settings.rate_ip_burst,
        trusted_proxies=settings.trusted_proxies,
        redis_url=settings.redis_url,
        redis_prefix=settings.redis_prefix,
    )
    routers = [media_router(media)]
    telegram = whatsapp = None
    if settings.telegram_enabled:
        from connectors.telegram import TelegramChannel, build_application, telegram_router

        application = build_application(
            settings.telegram_bot_token, api_url=settings.telegram_api_url, polling=settings.telegram_mode == "polling"
        )
        telegram = TelegramChannel(application, handle, desk.tell, default_language=settings.default_language, media=media)
        bus.add_channel(telegram)
        if settings.telegram_mode == "webhook":
            routers.append(telegram_router(telegram, settings.telegram_webhook_secret, limits=limits))
    if settings.whatsapp_enabled:
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
        )
        bus.add_channel(whatsapp)

        async def whatsapp_status(sid: str, status: str, error: str | None) -> None:
            async with desk.unit_of_work() as session:
                row = await outbox.record_status(session, provider_message_id=sid, status=status, error=error)
            if row is not None:
                await desk.delivery_changed([DeliveryChange(row.conversation_id, row.message_id, row.status, row.error)])

        routers.append(
            whatsapp_router(
                whatsapp,
                handle,
                desk.tell,
                whatsapp_status,
                public_url=settings.public_url,
                language=settings.whatsapp_language,
                trust_proxy_headers=settings.trust_proxy_headers,
                limits=limits,
            )
        )
    outbox_channels: list[OutboxChannel] = [c for c in (telegram, whatsapp) if c is not None]
    worker = OutboxWorker(
        sessions,
        outbox_channels,
        backoff_s=settings.outbox_backoff_s,
        max_attempts=settings.outbox_max_attempts,
        on_change=desk.delivery_changed,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.loop = asyncio.get_running_loop()
        if relay is not None:
            await relay.subscribe()  # before serving: no other replica's event is missed; fails loudly
        await follower.start_at_current()  # before loading: changes made meanwhile are applied after
        async with read_sessions() as session:
            articles = await kb_index.indexed_articles(session)
        count = kb_index.sync_index(index, articles)  # encoding, after the transaction
        await asyncio.to_thread(index.train_head)  # the first customer does not wait for it
        if index.calibration is None:
            logger.warning("the knowledge base has no calibration for %s: run `balcao kb calibrate`", index.encoder_name)
        logger.info("knowledge base: %d articles, %d passages", count, index.passage_count)
        if telegram is not None:
            await telegram.start(polling=settings.telegram_mode == "polling")
        if whatsapp is not None:
            await whatsapp.start()
        # What start-up loaded (modules, the encoder, the index) lives as long as the process: out
        # of the garbage collector's sight, a full collection in the middle of a request (a 16,000-
        # row export sets some off) no longer walks it, which cost such requests 50-100 ms.
        gc.freeze()
        tasks = [asyncio.create_task(inactivity_loop(desk.endings)), asyncio.create_task(follower.run())]
        if outbox_channels:
            tasks.append(asyncio.create_task(worker.run()))
        if relay is not None:
            tasks.append(asyncio.create_task(bus.run_relay()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for channel in (telegram, whatsapp):
                if channel is not None:
                    await channel.stop()
            await rasa.aclose()
            if relay is not None:
                await relay.close()
            if limits_redis is not None:
                await limits_redis.aclose()
            await engine.dispose()
            index.close()

    app = FastAPI(title="Balcão", version="0.1.0", lifespan=lifespan)
    app.state.desk = desk
    app.state.read_sessions = read_sessions
    app.state.kb_follower = follower
    app.state.settings = settings
    app.state.outbox_worker = worker
    app.state.media = media
    app.state.rate_limits = limits
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie="balcao_session",
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.public_url.startswith("https"),
    )
    app.add_middleware(SecurityHeaders, rules=ROUTE_POLICIES, hsts=settings.public_url.startswith("https"))
    app.add_exception_handler(PoolTimeout, overloaded)
    app.add_exception_handler(LoginRequired, redirect_to_login)  # a staff page asked for by nobody: log in first

    app.include_router(
        widget_router(
            WidgetTokens(settings.widget_secret, max_age_s=settings.widget_token_max_age_s),
            widget,
            handle,
            lambda cid: customer_view(desk.sessions, "widget", cid),
            lambda cid: desk.customer_typing("widget", cid),
            limits=limits,
        )
    )
    for router in routers:
        app.include_router(router)
    app.include_router(handoff.routes.router)  # the agents' console: its API, WebSocket and page
    app.include_router(handoff.admin_routes.router)
    app.include_router(insights.routes.router)  # the dashboard: KPIs, exports, follow-ups and page
    app.include_router(kb_index.routes.router)  # the knowledge-base editor: its API and page
    app.include_router(actions_router(executor, settings.actions_token))
    app.mount("/console/static", StaticFiles(directory=HANDOFF_DIR / "static"), name="console-static")
    app.mount("/dashboard/static", StaticFiles(directory=INSIGHTS_DIR / "static"), name="dashboard-static")
    app.mount("/kb/static", StaticFiles(directory=KB_DIR / "static"), name="kb-static")
    app.include_router(process_router(index, rasa))  # the demo page and /healthz
    app.include_router(auth_router)  # staff login and logout
    return app
