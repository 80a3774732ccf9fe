"""Real servers and clients for the tests: the hub in a thread, Rasa as a process, a widget
customer over a WebSocket, an agent over the JSON API."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
import websockets

import kb_index
from core.http import hub_client
from handoff import DEFAULT_TEAMS
from hub.settings import ROOT, Settings

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"  # the machine's PostgreSQL (trust)


async def pg_admin(sql: str) -> None:
    """Run one statement as the PostgreSQL superuser (e.g. create or drop a test database)."""
    import asyncpg

    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


def starter_index(cache_dir: Path) -> kb_index.KnowledgeIndex:
    """A new index of the starter knowledge base (data/kb) with the shipped encoder and calibration."""
    idx = kb_index.open_index(
        Settings(environment="test").encoder, calibration_file=ROOT / "data" / "kb" / "calibration.json", cache_dir=cache_dir
    )
    drafts, errors = kb_index.load_kb_dir(ROOT / "data" / "kb", teams=DEFAULT_TEAMS)
    assert not errors, errors
    idx.upsert(kb_index.IndexedArticle(d.id, d.lang, d.title, d.body, tuple(d.questions), d.team) for d in drafts)
    return idx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise TimeoutError(f"{what} not ready after {timeout_s} s")


def hub_settings(tmp: Path, *, cache_dir: Path, rasa_url: str = "http://127.0.0.1:1", **overrides: object) -> Settings:
    """Settings of a hub with its own SQLite file, on a free port."""
    values = dict(
        environment="test",
        database_url=f"sqlite+aiosqlite:///{tmp / 'balcao.db'}",
        port=free_port(),
        rasa_url=rasa_url,
        index_dir=cache_dir,
        media_dir=tmp / "media",
        secrets_file=tmp / "secrets.json",  # generated secrets stay out of the repository's var/
        # every test client is 127.0.0.1: the limits are tested by swapping the buckets (test_ratelimit)
        rate_ip_per_minute=1_000_000,
        rate_ip_burst=1_000_000,
        rate_customer_per_minute=1_000_000,
        rate_customer_burst=1_000_000,
        # tests log in many at once: the budget of password checks is tested by swapping it (test_logins)
        login_checks_per_second=1_000_000,
        login_checks_burst=1_000_000,
        calibration_file=ROOT / "data" / "kb" / "calibration.json",
        kb_dir=ROOT / "data" / "kb",
        inactivity_seconds=3600,
        rasa_timeout_s=3.0,
        # Tests assert decisions under the shipped thresholds: no refit behind their back (tests/kb_index/test_refit.py turns it on).
        kb_refit_after_versions=0,
    )
    values.update(overrides)
    settings = Settings(**values)
    settings.public_url = f"http://127.0.0.1:{settings.port}"
    return settings


@dataclass
class RunningHub:
    settings: Settings
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def app(self):
        return self.server.config.app

    def call(self, coro_factory: Callable, timeout_s: float = 60):
        """Run a coroutine on the hub's own event loop (where its database engine lives)."""
        future = asyncio.run_coroutine_threadsafe(coro_factory(), self.app.state.loop)
        return future.result(timeout_s)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


async def open_all_teams_always(settings: Settings) -> None:
    """Tests must not depend on the clock: every team answers 24/7 unless a test says otherwise."""
    import handoff
    from hub.db import make_engine, make_sessionmaker, unit_of_work

    engine = make_engine(settings.database_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as session:
            for team in await handoff.list_teams(session):
                await handoff.update_team(session, team.id, always_open=True)
    finally:
        await engine.dispose()


def start_hub(settings: Settings) -> RunningHub:
    """Migrate and fill the database like `make run` does, then serve the hub in a thread."""
    import asyncio as _asyncio

    from hub.app import create_app
    from hub.db import run_migrations
    from hub.operations import import_kb, seed_desk
    from hub.runner import hub_server

    run_migrations(settings.database_url)
    _asyncio.run(seed_desk(settings))
    _asyncio.run(open_all_teams_always(settings))
    _asyncio.run(import_kb(settings, settings.kb_dir))
    server = hub_server(settings, create_app(settings))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 300, "hub")  # a loaded 2-core machine can take minutes
    return RunningHub(settings, server, thread)


Staff = tuple[str, str, str, list[str]]
"""A staff member for ``queueing_hub``: e-mail, password, role, teams."""


@contextmanager
def queueing_hub(
    database: str, tmp: Path, *, cache_dir: Path, staff: Iterable[Staff], **overrides: object
) -> Iterator[RunningHub]:
    """A hub on SQLite, or on a PostgreSQL database of its own (``database="postgresql"``), whose
    Rasa never answers, so a customer's first message queues the chat for `geral`; ``staff`` are
    added as `balcao user add` does (each named after their e-mail). Everything is removed after."""
    from hub.operations import add_user

    name = None
    url = f"sqlite+aiosqlite:///{tmp / 'balcao.db'}"
    if database == "postgresql":
        name = f"balcao_{tmp.name.lower().replace('-', '_')}_{uuid.uuid4().hex[:10]}"
        asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    settings = hub_settings(tmp, cache_dir=cache_dir, database_url=url, rasa_timeout_s=0.5, rasa_attempts=1, **overrides)
    hub = start_hub(settings)
    try:
        for email, password, role, teams in staff:
            asyncio.run(
                add_user(settings, email=email, name=email.split("@")[0].title(), role=role, teams=teams, password=password)
            )
        yield hub
    finally:
        hub.stop()
        if name:
            asyncio.run(pg_admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


@dataclass
class RunningRasa:
    url: str
    token: str
    process: subprocess.Popen
    log: Path

    def tracker(self, sender: str) -> dict:
        r = httpx.get(f"{self.url}/conversations/{sender}/tracker", params={"token": self.token}, timeout=10)
        r.raise_for_status()
        return r.json()

    def user_texts(self, sender: str) -> list[str]:
        """Every text Rasa received from this conversation's customer."""
        return [e.get("text") for e in self.tracker(sender)["events"] if e.get("event") == "user"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_rasa(model: Path, *, actions_url: str, token: str, actions_token: str, tmp: Path, port: int) -> RunningRasa:
    """The real Rasa server with the project's trained model, its actions served by the hub."""
    from hub.rasa_model import server_command, server_env

    log = tmp / "rasa.log"
    env = server_env(actions_url=actions_url, actions_token=actions_token, tracker_db=tmp / "tracker.db")
    process = subprocess.Popen(
        server_command(model, port=port, token=token), cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"Rasa exited: {log.read_text()[-3000:]}")
        try:
            r = httpx.get(f"{url}/status", params={"token": token}, timeout=2)
            return r.status_code == 200 and bool(r.json().get("model_file"))
        except (httpx.HTTPError, ValueError):
            return False

    wait_until(ready, 240, "Rasa")
    return RunningRasa(url, token, process, log)


def widget_protocols(token: str) -> list[str]:
    """The Sec-WebSocket-Protocol values the widget opens its WebSocket with (its token rides there)."""
    return ["balcao.widget", f"balcao.token.{token}"]


# The console's names of this session's new widget customers. A name is one of 9000 ("Visitante
# 1234"), and the session's hub keeps hundreds of test customers waiting: one that took a name
# another already has would put two "Visitante 1234" in a queue, and a test's click could take the
# other. A real desk's agents tell such twins apart by their waiting times; a test takes a customer
# with a name of its own.
_NAMES_TAKEN: set[int] = set()


def _first_with_its_name(customer_id: str) -> bool:
    number = int(visitor_label("en", "widget", customer_id).rsplit(" ", 1)[1])
    if number in _NAMES_TAKEN:
        return False
    _NAMES_TAKEN.add(number)
    return True


@dataclass
class WidgetCustomer:
    """A customer in the website widget, speaking the widget's WebSocket protocol."""

    hub_url: str
    lang: str = "pt-BR"
    token: str | None = None
    frames: list[dict] = field(default_factory=list)
    history: dict | None = None

    @property
    def customer_id(self) -> str:
        """The customer id inside the signed token (what agents see in the queue)."""
        import base64

        payload = self.token.split(".")[0]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["c"]

    async def connect(self) -> WidgetCustomer:
        """Open the widget: a new customer (no token yet) or the same one again (its token)."""
        new = self.token is None
        async with httpx.AsyncClient() as client:
            for _ in range(50):  # a few hundred of 9000 names are taken: one try in most sessions
                r = await client.post(f"{self.hub_url}/widget/session", json={"token": self.token if not new else None})
                r.raise_for_status()
                self.token = r.json()["token"]
                if not new or _first_with_its_name(self.customer_id):
                    break
        ws_url = self.hub_url.replace("http", "ws") + f"/widget/ws?lang={self.lang}"
        self.ws = await websockets.connect(ws_url, subprotocols=widget_protocols(self.token))
        self.history = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        return self

    async def close(self) -> None:
        await self.ws.close()

    async def _recv(self, timeout_s: float) -> dict:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout_s))
        self.frames.append(frame)
        return frame

    async def say(self, text: str, *, payload: str | None = None, timeout_s: float = 30) -> list[dict]:
        """Send a message; return every frame of the turn (up to the hub's ack or error)."""
        message_id = uuid.uuid4().hex
        frame = {"type": "message", "text": text, "id": message_id}
        if payload:
            frame["payload"] = payload
        await self.ws.send(json.dumps(frame))
        turn = []
        while True:
            got = await self._recv(timeout_s)
            turn.append(got)
            if got.get("type") in ("ack", "error") and got.get("id") == message_id:
                return turn

    async def tap(self, title: str, turn: list[dict]) -> list[dict]:
        """Tap the button titled ``title`` offered in ``turn``."""
        for frame in reversed(turn):
            for button in frame.get("buttons") or []:
                if button["title"] == title:
                    return await self.say(title, payload=button["payload"])
        raise AssertionError(f"no button {title!r} in {bot_texts(turn)}")

    async def wait_for(self, predicate: Callable[[dict], bool], timeout_s: float = 30) -> dict:
        """The next frame (not yet seen) that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout_s
        while True:
            got = await self._recv(max(0.1, deadline - time.monotonic()))
            if predicate(got):
                return got


async def wait_for_status(read: Callable[[], str], wanted: str, timeout_s: float = 10.0) -> None:
    """Wait until the agent's status is ``wanted`` (presence changes it after a grace period)."""
    deadline = time.monotonic() + timeout_s
    while (current := read()) != wanted:
        assert time.monotonic() < deadline, f"status {current!r}, expected {wanted!r}"
        await asyncio.sleep(0.1)


def visitor_label(lang: str, channel: str, customer_id: str) -> str:
    """The console's name for a customer without one ("Visitante 1234"): the number the console's
    script derives from the customer's channel and id, the same for the same customer."""
    from handoff.console_texts import TEXTS

    h = 0
    for ch in f"{channel}:{customer_id}":
        h = (h * 31 + ord(ch)) % 2**32
    return TEXTS[lang]["visitor"].format(n=1000 + h % 9000)


def bot_texts(frames: list[dict]) -> list[str]:
    return [f["text"] for f in frames if f.get("type") == "message" and f.get("sender") in ("bot", "system")]


def buttons(frames: list[dict]) -> list[str]:
    return [b["title"] for f in frames if f.get("type") == "message" for b in (f.get("buttons") or [])]


@dataclass
class AgentClient:
    """An agent using the console's JSON API."""

    hub_url: str
    email: str
    password: str

    async def login(self) -> AgentClient:
        self.http = hub_client(base_url=self.hub_url, timeout=30)
        r = await self.http.post("/api/auth/login", json={"email": self.email, "password": self.password})
        r.raise_for_status()
        self.http.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return self

    async def queue(self) -> list[dict]:
        r = await self.http.get("/api/agent/queue")
        r.raise_for_status()
        return r.json()

    async def claim(self, conversation_id: str) -> httpx.Response:
        return await self.http.post(f"/api/agent/conversations/{conversation_id}/claim")

    async def reply(self, conversation_id: str, text: str) -> httpx.Response:
        return await self.http.post(f"/api/agent/conversations/{conversation_id}/messages", json={"text": text})

    async def send_file(self, conversation_id: str, name: str, content: bytes, mime: str, *, text: str = "") -> httpx.Response:
        """Upload a file for the customer, as the console's attach control does."""
        return await self.http.post(
            f"/api/agent/conversations/{conversation_id}/attachments", files={"file": (name, content, mime)}, data={"text": text}
        )

    async def close(self, conversation_id: str) -> httpx.Response:
        return await self.http.post(f"/api/agent/conversations/{conversation_id}/close", json={"reason": "resolved"})

    async def detail(self, conversation_id: str) -> dict:
        r = await self.http.get(f"/api/agent/conversations/{conversation_id}")
        r.raise_for_status()
        return r.json()

    async def aclose(self) -> None:
        await self.http.aclose()
