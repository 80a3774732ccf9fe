"""A real desk to look at: a hub (SQLite in a temporary directory) and the real Rasa server, with a
few staff accounts and conversations in every state the console shows. Used by
``tools/screenshots.py`` and ``bench/a11y.py``; both stop it when they end, also on errors."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page

from hub.settings import Settings
from tests.support import AgentClient, RunningHub, WidgetCustomer, free_port, hub_settings, start_rasa, wait_until

ROOT = Path(__file__).resolve().parents[1]
INDEX_CACHE = ROOT / "var" / "cache" / "tour-index"
"""The embeddings of the starter articles, kept between tours (encoding them is the slow part of a start)."""
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SIZES = {"phone": (390, 844), "desktop": (1280, 800)}
"""The two widths every page is checked at (an iPhone 12-sized phone and a laptop)."""

ACCOUNTS = {
    "agent": ("ana@loja.test", "Ana", "agent", ["geral"], "ana-password-1"),
    "supervisor": ("sofia@loja.test", "Sofia", "supervisor", [], "sofia-password-1"),
    "editor": ("edu@loja.test", "Edu", "editor", [], "edu-password-1"),
    "admin": ("alice@loja.test", "Alice", "admin", [], "alice-password-1"),
}
"""Who logs in: an agent of the general team, a supervisor (dashboard), an editor (the KB editor)
and an admin (the admin pages)."""


@dataclass
class Scene:
    """The conversations the tour made: ids an agent's console can open."""

    queued: str  # asked for a person, waiting in the queue
    complaint: str  # a complaint, first in line
    held: str  # taken by Ana, with her reply


def start_hub(settings: Settings) -> RunningHub:
    """tests.support.start_hub with more patience: on a busy 2-core machine the first start encodes
    every starter article (later starts read INDEX_CACHE)."""
    import threading

    import uvicorn

    from hub.app import create_app
    from hub.db import run_migrations
    from hub.operations import import_kb, seed_desk
    from tests.support import open_all_teams_always

    run_migrations(settings.database_url)
    asyncio.run(seed_desk(settings))
    asyncio.run(open_all_teams_always(settings))
    asyncio.run(import_kb(settings, settings.kb_dir))
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning", proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 900, "hub")
    return RunningHub(settings, server, thread)


@contextlib.contextmanager
def live_desk() -> Iterator[RunningHub]:
    """A hub and Rasa on free loopback ports, with the staff accounts above; both stopped on exit."""
    from hub.operations import add_user
    from hub.rasa_model import ensure_model

    model = ensure_model(quiet=True)
    with tempfile.TemporaryDirectory(prefix="balcao-tour-") as tmp_name:
        tmp = Path(tmp_name)
        token, rasa_port = secrets.token_hex(16), free_port()
        settings = hub_settings(tmp, cache_dir=INDEX_CACHE, rasa_url=f"http://127.0.0.1:{rasa_port}", rasa_token=token)
        hub = start_hub(settings)
        try:
            rasa = start_rasa(
                model,
                actions_url=f"{hub.url}/actions/webhook",
                token=token,
                actions_token=hub.settings.actions_token,
                tmp=tmp,
                port=rasa_port,
            )
            try:
                for email, name, role, teams, password in ACCOUNTS.values():
                    asyncio.run(add_user(settings, email=email, name=name, role=role, teams=teams, password=password))
                yield hub
            finally:
                rasa.stop()
        finally:
            hub.stop()


async def make_scene(hub: RunningHub) -> Scene:
    """Three widget customers: one asks for a person, one complains, one is answered by Ana."""
    email, _, _, _, password = ACCOUNTS["agent"]
    agent = await AgentClient(hub.url, email, password).login()
    email, _, _, _, password = ACCOUNTS["supervisor"]
    supervisor = await AgentClient(hub.url, email, password).login()  # sees every team's queue
    try:
        held = await WidgetCustomer(hub.url, "pt-BR").connect()
        await held.say("quero falar com um atendente")
        queued = await WidgetCustomer(hub.url, "pt-BR").connect()
        await queued.say("me passa para um humano por favor")
        complaint = await WidgetCustomer(hub.url, "pt-BR").connect()
        await complaint.say("vou abrir reclamação no Procon")
        ids = {c["customer_id"]: c["id"] for c in await supervisor.queue()}
        await agent.claim(ids[held.customer_id])
        await agent.reply(ids[held.customer_id], "Olá! Sou a Ana. Vou verificar o seu pedido agora.")
        await held.say("obrigado, o número é 48213")
        for customer in (held, queued, complaint):
            await customer.close()
        return Scene(queued=ids[queued.customer_id], complaint=ids[complaint.customer_id], held=ids[held.customer_id])
    finally:
        await agent.aclose()
        await supervisor.aclose()


async def logged_in(
    browser: Browser, hub: RunningHub, role: str, *, size: str, lang: str | None = None, bypass_csp: bool = False
) -> BrowserContext:
    """A browser context of ``size`` where ``role``'s account has logged in (through the login form);
    ``lang``: its Accept-Language; ``bypass_csp``: for injecting axe-core (tools/axe.py)."""
    width, height = SIZES[size]
    headers = {"Accept-Language": lang} if lang else {}
    context = await browser.new_context(
        viewport={"width": width, "height": height}, extra_http_headers=headers, bypass_csp=bypass_csp
    )
    page = await context.new_page()
    await log_in(page, hub, role)
    await page.close()
    return context


async def log_in(page: Page, hub: RunningHub, role: str) -> None:
    """Fill the login form as ``role`` (the form is bilingual)."""
    email, _, _, _, password = ACCOUNTS[role]
    await page.goto(f"{hub.url}/login?next=/console")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Senha / Password").fill(password)
    await page.get_by_role("button", name="Entrar / Log in").click()
    await page.wait_for_load_state("networkidle")
