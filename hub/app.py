"""The hub's ASGI app: wires kb_index, handoff, connectors and insights, and the Rasa actions.

``create_app`` (at the end) reads as the list of what the desk is made of. The services are built in
``hub.services`` (the index and its jobs, the channels, the limits, the webhooks); this module keeps
the routers, the middleware, and the lifespan that starts and stops the background jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.middleware.sessions import SessionMiddleware

import handoff
import handoff.admin_routes
import handoff.routes
import insights
import insights.routes
import integrations.admin_routes
import integrations.api
import kb_index
import kb_index.learning_routes
import kb_index.routes
from connectors import customers
from connectors.identity import CustomerIdentity
from connectors.media import MediaStore, media_router
from connectors.outbox import OutboxWorker
from connectors.ratelimit import RateLimits
from connectors.widget import HandleInbound, WidgetChannel, WidgetOptions, WidgetTokens, customer_view, widget_router
from core.headers import DEMO_POLICY, DOCS_POLICY, RoutePolicy, SecurityHeaders
from core.models import database_unavailable
from core.tasks import stop_tasks
from core.web import STATIC as CORE_STATIC
from desk import Desk, EventBus, RasaClient, ReplicaRelay, actions_router, inactivity_loop
from desk.privacy import retention_loop
from desk.privacy_pages import pages as privacy_pages
from desk.privacy_routes import router as privacy_router
from handoff.auth import LoginRequired, auth_router, redirect_to_login
from handoff.customer_routes import router as customer_router
from hub import services as build
from hub.db import make_engine, make_read_sessionmaker, make_sessionmaker
from hub.pages import process_router
from hub.secret_store import ensure_secrets
from hub.settings import Settings, get_settings
from integrations import WebhookWorker, webhook_listener
from kb_index import IndexFollower, KnowledgeIndex, UnansweredSettler
from kb_index.refit import Refitter

if TYPE_CHECKING:
    from redis.asyncio import Redis


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


async def database_gone(request: Request, exc: Exception) -> Response:
    """The database cannot be reached (cut, restarting, refusing connections): 503 with Retry-After,
    never a 500; nothing was changed (the transaction did not commit) and the next try may succeed.
    Any other database error is a bug and stays one."""
    if not database_unavailable(exc):
        raise exc
    logger.warning("database unavailable for %s %s: answered 503 (%s)", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": "the desk cannot reach its database: please try again in a few seconds"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


# --- the app's plumbing: middleware, the widget's router, static files ------------------------------------------------


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    """The staff's signed session cookie, security headers per route, a 503 when the database pool
    runs dry, and the login redirect of staff pages."""
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
    app.add_exception_handler(DBAPIError, database_gone)
    app.add_exception_handler(ConnectionError, database_gone)  # refused before any driver error
    app.add_exception_handler(LoginRequired, redirect_to_login)  # a staff page asked for by nobody: log in first


def _widget_router(
    settings: Settings, desk: Desk, widget: WidgetChannel, handle: HandleInbound, limits: RateLimits, media: MediaStore
) -> APIRouter:
    """The website widget: its token, WebSocket and script; the shop's signed identities of its
    customers are kept on their records."""

    async def identify(customer_id: str, identity: CustomerIdentity) -> None:
        async with desk.unit_of_work() as session:
            await customers.remember_identity(session, channel="widget", customer_id=customer_id, identity=identity)

    return widget_router(
        WidgetTokens(settings.widget_secret, max_age_s=settings.widget_token_max_age_s),
        widget,
        handle,
        lambda cid: customer_view(desk.sessions, "widget", cid, media=media),
        lambda cid: desk.customer_typing("widget", cid),
        limits=limits,
        options=WidgetOptions(
            default_language=settings.default_language,
            max_chars=settings.max_message_chars,
            setup=desk.widget_setup,
            identity_secret=settings.identity_secret,
            identify=identify,
        ),
    )


def _mount_static(app: FastAPI) -> None:
    """The packages' pages' scripts and styles, and the design system they share (core/static)."""
    app.mount("/static", StaticFiles(directory=CORE_STATIC), name="core-static")
    app.mount("/console/static", StaticFiles(directory=HANDOFF_DIR / "static"), name="console-static")
    app.mount("/dashboard/static", StaticFiles(directory=INSIGHTS_DIR / "static"), name="dashboard-static")
    app.mount("/kb/static", StaticFiles(directory=KB_DIR / "static"), name="kb-static")


# --- the lifespan: start-up and shutdown -------------------------------------------------------


@dataclass(frozen=True)
class _Services:
    """What the lifespan starts and stops."""

    settings: Settings
    engine: AsyncEngine
    read_sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]]
    relay: ReplicaRelay | None
    bus: EventBus
    rasa: RasaClient
    index: KnowledgeIndex
    follower: IndexFollower
    refitter: Refitter
    desk: Desk
    channels: build.Channels
    worker: OutboxWorker
    limits_redis: Redis | None
    settler: UnansweredSettler
    webhooks: WebhookWorker


async def _load_index(s: _Services) -> None:
    """Bring the index up to date with the published articles and train its head."""
    await s.follower.start_at_current()  # before loading: changes made meanwhile are applied after
    async with s.read_sessions() as session:
        articles = await kb_index.indexed_articles(session)
    count = kb_index.sync_index(s.index, articles)  # encoding, after the transaction
    await asyncio.to_thread(s.index.train_head)  # the first customer does not wait for it
    if s.index.calibration is None:
        logger.warning("the knowledge base has no calibration for %s: run `balcao kb calibrate`", s.index.encoder_name)
    logger.info("knowledge base: %d articles, %d passages", count, s.index.passage_count)


async def _start(app: FastAPI, s: _Services) -> list[asyncio.Task]:
    """Start everything in order; return the background jobs."""
    app.state.loop = asyncio.get_running_loop()
    if s.relay is not None:
        await s.relay.subscribe()  # before serving: no other replica's event is missed; fails loudly
    await _load_index(s)
    if s.channels.telegram is not None:
        await s.channels.telegram.start(polling=s.settings.telegram_mode == "polling")
    if s.channels.whatsapp is not None:
        await s.channels.whatsapp.start()
    # What start-up loaded (modules, the encoder, the index) lives as long as the process: out
    # of the garbage collector's sight, a full collection in the middle of a request (a 16,000-
    # row export sets some off) no longer walks it, which cost such requests 50-100 ms.
    gc.freeze()
    tasks = [asyncio.create_task(inactivity_loop(s.desk.endings)), asyncio.create_task(s.follower.run())]
    tasks.append(asyncio.create_task(s.refitter.run()))  # thresholds refitted as the knowledge base grows
    if s.settings.retention_check_s > 0:
        media = app.state.media
        tasks.append(asyncio.create_task(retention_loop(s.desk.unit_of_work, media, every_s=s.settings.retention_check_s)))
    if s.channels.outbound:
        tasks.append(asyncio.create_task(s.worker.run()))
    tasks.append(asyncio.create_task(s.webhooks.run()))
    if s.relay is not None:
        tasks.append(asyncio.create_task(s.bus.run_relay()))
    return tasks


async def _stop(tasks: list[asyncio.Task], s: _Services) -> None:
    """Stop the jobs, then the channels, then close the clients, the database and the index."""
    await s.settler.close()
    # Bounded: a job whose Redis call swallowed the cancellation (core.tasks) must not keep the hub
    # from stopping; it ends with the process.
    await stop_tasks(tasks)
    for channel in (s.channels.telegram, s.channels.whatsapp):
        if channel is not None:
            await channel.stop()
    await s.rasa.aclose()
    s.desk.early.close()
    if s.relay is not None:
        await s.relay.close()
    if s.limits_redis is not None:
        await s.limits_redis.aclose()
    await s.engine.dispose()
    s.index.close()


def _lifespan(services: _Services) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start the services before the app serves; stop them when it ends."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = await _start(app, services)
        try:
            yield
        finally:
            await _stop(tasks, services)

    return lifespan


# --- the app -----------------------------------------------------------------------------------


def _package_routers() -> tuple[APIRouter, ...]:
    """The packages' pages and APIs, in the order the app matches them."""
    return (
        handoff.routes.router,  # the agents' console: its API, WebSocket and page
        customer_router,  # the console's customer: verified identity, linked channels
        handoff.admin_routes.router,  # teams, staff accounts, the audit log
        handoff.admin_routes.pages,  # their pages, and every user's account page
        privacy_router,  # a customer's data: export, erasure, the retention policy
        privacy_pages,  # ...and the admins' page over it
        insights.routes.router,  # the dashboard: KPIs, exports, follow-ups and page
        kb_index.routes.router,  # the knowledge-base editor: its API and page
        integrations.api.router,  # /api/v1: what a CRM or an order system reads, by token
        integrations.admin_routes.router,  # tokens, webhooks, the delivery log
        integrations.admin_routes.pages,  # their page, /admin/integrations
        kb_index.learning_routes.router,  # the candidate questions editors approve
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the hub. The index is loaded and the services started in the lifespan."""
    settings = ensure_secrets(settings or get_settings())
    # The database. Every row handoff appends (a conversation, a message, an ownership change) also
    # updates insights' KPI summaries and stages the webhooks it makes, in the same transaction.
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine, listeners=[insights.note_appended, webhook_listener(settings.webhooks_max_attempts)])
    read_sessions = make_read_sessionmaker(engine)  # reads that must not take SQLite's write lock
    # Real-time events (shared between replicas through Redis), the widget, Rasa and the index.
    relay = ReplicaRelay(settings.redis_url, prefix=settings.redis_prefix) if settings.redis_url else None
    bus = EventBus(relay)
    widget = WidgetChannel()
    bus.add_channel(widget)
    rasa = RasaClient(settings.rasa_url, settings.rasa_token, timeout_s=settings.rasa_timeout_s, attempts=settings.rasa_attempts)
    index = build.open_index(settings)
    # The desk, its knowledge-base follower, the Rasa actions.
    desk = Desk(settings, sessions, index, bus, rasa)
    follower = IndexFollower(sessions, index, poll_seconds=settings.kb_poll_seconds, read_sessions=read_sessions)
    refitter = build.refitter(settings, sessions, read_sessions, index)
    executor = build.rasa_actions(desk)
    # The channels and what they share: the inbound handler, attachments, rate limits, the outbox.
    handle = build.inbound_handler(desk)
    media = build.media_store(settings)
    limits, limits_redis = build.rate_limits(settings)
    channels = build.channels(settings, desk, bus, handle, media, limits)
    worker = build.outbox_worker(settings, sessions, channels, desk)
    # After a publication, the open unanswered questions it may answer are re-run (kb_index.settling).
    settler = UnansweredSettler(index, read_sessions, desk.unit_of_work)
    # The HTTP API's tokens and the webhooks' sender.
    services_of_integrations = build.integration_services(settings, sessions, read_sessions)
    services = _Services(
        settings,
        engine,
        read_sessions,
        relay,
        bus,
        rasa,
        index,
        follower,
        refitter,
        desk,
        channels,
        worker,
        limits_redis,
        settler,
        services_of_integrations.worker,
    )
    app = FastAPI(title="Balcão", version="0.1.0", lifespan=_lifespan(services))
    app.state.desk = desk
    app.state.read_sessions = read_sessions
    app.state.kb_follower = follower
    app.state.unanswered = settler
    app.state.settings = settings
    app.state.outbox_worker = worker
    app.state.integrations = services_of_integrations
    app.state.media = media
    app.state.rate_limits = limits
    app.state.login_throttle = build.login_throttle(settings, limits, limits_redis)
    app.state.team_articles = build.team_articles
    _add_middleware(app, settings)
    # The routers: the channels', the packages' pages and APIs, the Rasa actions', the process's own.
    app.include_router(_widget_router(settings, desk, widget, handle, limits, media))
    app.include_router(media_router(media))
    for router in channels.routers:
        app.include_router(router)
    for router in _package_routers():
        app.include_router(router)
    app.include_router(actions_router(executor, settings.actions_token))
    _mount_static(app)
    app.include_router(process_router(index, rasa, default_language=settings.default_language))  # the demo page and /healthz
    app.include_router(auth_router)  # staff login and logout
    return app
