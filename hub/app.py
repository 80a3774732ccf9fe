"""The hub's ASGI app: wires kb_index, handoff, connectors and insights, and the Rasa actions."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field
from rasa_sdk.executor import ActionExecutor
from starlette.middleware.sessions import SessionMiddleware

import bot.actions
import handoff
import insights
import kb_index
from connectors import outbox
from connectors.base import OutboxChannel
from connectors.outbox import DeliveryChange, OutboxWorker
from connectors.media import MediaStore, media_router
from connectors.ratelimit import RateLimits, TokenBucket
from connectors.widget import WidgetChannel, WidgetTokens, public_attachments, widget_router
from hub import admin_api, agents_api, insights_api, kb_api
from hub.actions_endpoint import actions_router
from hub.auth import CurrentUser, DbSession, check_csrf, csrf_token, login_session
from hub.db import make_engine, make_read_sessionmaker, make_sessionmaker
from handoff.console_texts import console_texts
from hub.desk import Desk
from hub.kb_sync import IndexFollower
from hub.rasa_client import RasaClient
from hub.realtime import EventBus, ReplicaRelay
from hub.settings import Settings, get_settings

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent
HANDOFF_DIR = Path(handoff.__file__).parent
INSIGHTS_DIR = Path(insights.__file__).parent
KB_DIR = Path(kb_index.__file__).parent
LANGUAGES = ("pt-BR", "pt-PT", "en")


async def _inactivity_loop(desk: Desk) -> None:
    """Ends conversations whose customer went quiet (the NPS question is the ending), and marks
    waiting customers who left as abandoned."""
    while True:
        await asyncio.sleep(desk.settings.inactivity_check_seconds)
        try:
            await desk.end_quiet_conversations()
            await desk.abandon_departed()
        except Exception:  # keep checking; one bad conversation must not stop the loop
            logger.exception("inactivity check failed")


async def customer_view(desk: Desk, channel: str, customer_id: str) -> dict:
    """What a returning customer's page shows: their latest conversation and its state."""
    async with desk.sessions() as session:
        conversation = await handoff.latest_conversation(session, channel=channel, customer_id=customer_id)
        if conversation is None:
            return {"messages": [], "state": None}
        messages = await handoff.conversation_history(session, conversation.id, include_notes=False)
        standing = await handoff.queue_standing(session, conversation.id)
        agent = await handoff.get_user(session, conversation.agent_id) if conversation.agent_id else None
    return {
        "state": conversation.state,
        "agent_name": agent.name if agent else None,
        "queue": {"position": standing.position, "wait_seconds": standing.wait_seconds} if standing else None,
        "messages": [
            {
                "id": m.id,
                "sender": m.sender,
                "text": m.text,
                "buttons": m.buttons or [],
                "agent_name": agent.name if (agent and m.sender == "agent") else None,
                "created_at": m.created_at.isoformat(),
                "attachments": public_attachments((m.data or {}).get("attachments")) if m.sender != "customer" else [],
                # the widget's own id of a message it sent, so it knows which ones were stored
                "client_id": m.channel_message_id.split(":", 1)[1] if m.sender == "customer" and m.channel_message_id else None,
            }
            for m in messages
        ],
    }


class LoginIn(BaseModel):
    email: str = Field(max_length=254)
    password: str = Field(max_length=200)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the hub. The index is loaded and the services started in the lifespan."""
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
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

    media = MediaStore(settings.media_dir, settings.secret_key, public_url=settings.public_url)
    limits = RateLimits(
        customer=TokenBucket(settings.rate_customer_per_minute, settings.rate_customer_burst),
        ip=TokenBucket(settings.rate_ip_per_minute, settings.rate_ip_burst),
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
                whatsapp, handle, desk.tell, whatsapp_status, public_url=settings.public_url,
                language=settings.whatsapp_language, trust_proxy_headers=settings.trust_proxy_headers, limits=limits,
            )
        )
    outbox_channels: list[OutboxChannel] = [c for c in (telegram, whatsapp) if c is not None]
    worker = OutboxWorker(
        sessions, outbox_channels, backoff_s=settings.outbox_backoff_s, max_attempts=settings.outbox_max_attempts,
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
        tasks = [asyncio.create_task(_inactivity_loop(desk)), asyncio.create_task(follower.run())]
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
    env = Environment(
        loader=ChoiceLoader(
            [FileSystemLoader(HERE / "templates"), FileSystemLoader(HANDOFF_DIR / "templates"), FileSystemLoader(INSIGHTS_DIR / "templates"),
             FileSystemLoader(KB_DIR / "templates")]
        ),
        autoescape=select_autoescape(["html"]),
    )
    templates = Jinja2Templates(env=env)

    app.include_router(
        widget_router(
            WidgetTokens(settings.secret_key), widget, handle,
            lambda cid: customer_view(desk, "widget", cid), lambda cid: desk.customer_typing("widget", cid), limits=limits,
        )
    )
    for router in routers:
        app.include_router(router)
    app.include_router(agents_api.router)
    app.include_router(admin_api.router)
    app.include_router(insights_api.router)
    app.include_router(insights_api.dashboard_router(templates))
    app.include_router(kb_api.router)
    app.include_router(kb_api.editor_router(templates))
    app.include_router(actions_router(executor, settings.rasa_token))
    app.mount("/console/static", StaticFiles(directory=HANDOFF_DIR / "static"), name="console-static")
    app.mount("/dashboard/static", StaticFiles(directory=INSIGHTS_DIR / "static"), name="dashboard-static")
    app.mount("/kb/static", StaticFiles(directory=KB_DIR / "static"), name="kb-static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def demo(request: Request, lang: str = "pt-BR") -> Response:
        return templates.TemplateResponse(request, "demo.html", {"lang": lang if lang in LANGUAGES else "pt-BR"})

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict:
        """Liveness, and whether Rasa answers."""
        return {"ok": True, "articles": len(index), "rasa": await rasa.is_ready()}

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_page(request: Request, next: str = "/console") -> Response:
        return templates.TemplateResponse(request, "login.html", {"csrf": csrf_token(request), "next": next, "error": None})

    @app.post("/login", include_in_schema=False)
    async def login_form(
        request: Request,
        session: DbSession,
        email: str = Form(..., max_length=254),
        password: str = Form(..., max_length=200),
        csrf_token_field: str = Form("", alias="csrf_token"),
        next: str = Form("/console"),
    ) -> Response:
        check_csrf(request, csrf_token_field)
        try:
            user = await handoff.authenticate(session, email, password)
        except handoff.InvalidCredentials as exc:
            context = {"csrf": csrf_token(request), "next": next, "error": str(exc), "email": email}
            return templates.TemplateResponse(request, "login.html", context, status_code=401)
        login_session(request, user)
        target = next if next.startswith("/") and not next.startswith("//") else "/console"
        return RedirectResponse(target, status_code=303)

    @app.post("/api/auth/login", tags=["auth"])
    async def login_api(body: LoginIn, request: Request, session: DbSession) -> dict:
        """Log in for API use; returns the CSRF token to send as X-CSRF-Token on changes."""
        try:
            user = await handoff.authenticate(session, body.email, body.password)
        except handoff.InvalidCredentials as exc:
            raise HTTPException(401, str(exc)) from exc
        return {"csrf_token": login_session(request, user), "user": {"id": user.id, "name": user.name, "role": user.role}}

    @app.get("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/api/me", tags=["auth"])
    async def me(user: CurrentUser) -> dict:
        """The logged-in user."""
        return {"id": user.id, "name": user.name, "email": user.email, "role": user.role}

    @app.get("/console", response_class=HTMLResponse, include_in_schema=False)
    async def console(request: Request, session: DbSession, lang: str | None = None) -> Response:
        user_id = request.session.get("uid")
        user = await handoff.get_user(session, int(user_id)) if user_id else None
        if user is None:
            return RedirectResponse("/login?next=/console", status_code=303)
        if user.role not in ("agent", "supervisor", "admin"):
            raise HTTPException(403, "the console is for agents and supervisors")
        chosen, texts = console_texts(lang or request.headers.get("accept-language", "pt-BR"))
        teams = await handoff.list_teams(session)
        agents = sorted({load.user.id: load.user for t in teams for load in await handoff.team_loads(session, t.id)}.values(), key=lambda u: u.name)
        context = {"csrf": csrf_token(request), "user": user, "lang": chosen, "t": texts, "teams": teams, "agents": agents}
        return templates.TemplateResponse(request, "console.html", context)

    return app
