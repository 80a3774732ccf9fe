"""Chaos benchmark: faults under load on the scaled setup, and what customers lost (nothing, we hope).

It starts `balcao run --replicas 2 --rasa 2` (two hubs and two Rasa servers behind HAProxy, as
`make run-scaled` does) on a PostgreSQL database of its own and a private ``redis-server`` on a
port of its own (the machine's PostgreSQL and Redis stay up and untouched: only this run's
databases lose their connections, and only its own Redis is killed). Then, for each fault, a few
widget customers ask FAQ questions through HAProxy with a short think time (they behave as
``widget.js`` does: a message is kept until the hub acks it, and sent again, same id, after a
reconnection), the fault is injected, and the load goes on for a while.

Faults: ``hub_kill`` (kill -9 of hub 1; the runner starts it again), ``rasa_kill`` (kill -9 of Rasa
server 1; HAProxy sends turns to the other), ``db_cut`` (pg_terminate_backend of every connection to
the hub's and Rasa's databases), ``db_down`` (the hub's database refuses connections for 10 s),
``redis_down`` (the private Redis killed, started again 5 s later, empty); with Telegram or WhatsApp
customers (the platforms are ``tests/channel_fakes.py``'s fakes), for 10 s the platform answers every
send with 5xx (``telegram_5xx``, ``whatsapp_5xx``), with 429 (``…_429``), or takes it and answers only
after the hub stopped waiting (``…_timeout``); ``webhook_twice`` (for 10 s every Telegram update and
Twilio webhook is delivered again after the next one: twice, and out of order).

For each fault, from the database and the customers' own frames: messages ``sent`` (distinct
messages the customers wrote), ``stored``, ``answered`` (a bot or system reply follows it, or its
conversation is waiting for / held by a person: the bounded wait passed and the customer was told
and queued), ``duplicates`` (a customer message stored more than once), ``lost`` (sent, never
stored), ``outbound_more_than_once`` (a reply delivered twice to a page), ``two_owners``
(customers with more than one open conversation, conversations held by two agents cannot exist by
schema), ``recover_s`` (from the fault until every customer had a turn acked again; for the 10 s
outage, from the database's return; for the platform faults, from the fault's end until every reply
queued meanwhile reached the platform). For Telegram and WhatsApp customers ``outbound_more_than_once``
counts the replies the platform took more than once (what it received beside the parts the outbox
sent), and ``replies_not_sent`` the replies that never left the outbox.

Run ``.venv/bin/python bench/chaos.py`` (about 10 minutes on this 2-core machine, most of it
starting Rasa); it writes ``bench/results/chaos.json``. Everything it starts is in process groups it
stops in ``finally`` blocks, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after the project: bench/handoff.py must not hide the package

from load_clients import (
    TELEGRAM_TOKEN,
    TWILIO_FROM,
    TWILIO_SID,
    Inboxes,
    LoadTelegram,
    LoadTwilio,
    Platforms,
    TelegramCustomer,
    WhatsAppCustomer,
)

RESULTS = ROOT / "bench" / "results" / "chaos.json"
PG = "postgresql://postgres@127.0.0.1:5432"
PLATFORM_TIMEOUT_S = 3  # the hub's wait for Telegram's and Twilio's answers (the timeout faults exceed it)
PLATFORM_FAULT_S = 10  # how long a platform misbehaves
QUESTIONS = [
    "qual o prazo de entrega?",
    "posso pagar com pix?",
    "como faço para trocar um produto?",
    "vocês entregam em todo o Brasil?",
    "como rastrear meu pedido?",
]


# --- the setup: scaled runner, private Redis, databases ------------------------------------------


@dataclass
class Setup:
    url: str
    database: str
    hub_ports: list[int]
    rasa_ports: list[int]
    redis_port: int
    folder: Path
    telegram: LoadTelegram
    twilio: LoadTwilio
    secrets: dict[str, str]
    inboxes: Inboxes
    runner: subprocess.Popen | None = None
    redis: subprocess.Popen | None = None
    output: list[str] = field(default_factory=list)
    twice: list[bool] = field(default_factory=lambda: [False])  # webhook_twice is on

    def start_redis(self) -> None:
        command = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.redis = subprocess.Popen(
            command, cwd=self.folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 10
        while not _listening(self.redis_port):
            if time.monotonic() > deadline:
                raise RuntimeError("the private redis-server did not start")
            time.sleep(0.1)

    def kill_redis(self) -> None:
        if self.redis is not None and self.redis.poll() is None:
            os.killpg(self.redis.pid, signal.SIGKILL)
            self.redis.wait()
        self.redis = None


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _free_block(count: int, after: int) -> int:
    for start in range(after, 40000, 10):
        if not any(_listening(p) for p in range(start, start + count)):
            return start
    raise RuntimeError("no free ports")


async def _pg(sql: str, *args: object) -> list:
    connection = await asyncpg.connect(f"{PG}/test")
    try:
        return await connection.fetch(sql, *args)
    finally:
        await connection.close()


def _environment(setup: Setup, public: int, rasa: int) -> dict[str, str]:
    folder, db = setup.folder, setup.database
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("BALCAO_")},
        "PYTHONPATH": str(ROOT),
        "BALCAO_ENVIRONMENT": "test",
        "BALCAO_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{db}",
        "BALCAO_REDIS_URL": f"redis://127.0.0.1:{setup.redis_port}/0",
        "BALCAO_REDIS_PREFIX": db,
        "BALCAO_PORT": str(public),
        "BALCAO_RASA_URL": f"http://127.0.0.1:{rasa}",
        "BALCAO_RASA_TOKEN": uuid.uuid4().hex,
        "BALCAO_RASA_TIMEOUT_S": "20",  # the bounded wait, on a machine shared with other work
        "BALCAO_RASA_ATTEMPTS": "2",  # a turn cut by a killed Rasa server is asked again (HAProxy: the other)
        "BALCAO_TURN_LOCK_S": "45",
        "BALCAO_SECRETS_FILE": str(folder / "secrets.json"),
        "BALCAO_INDEX_DIR": str(ROOT / "var" / "index"),  # the same cache as `make run` (content-addressed)
        "BALCAO_MEDIA_DIR": str(folder / "media"),
        "BALCAO_SCALED_DIR": str(folder / "scaled"),
        "BALCAO_RATE_IP_PER_MINUTE": "1000000",
        "BALCAO_RATE_IP_BURST": "1000000",
        "BALCAO_INACTIVITY_SECONDS": "3600",
        # Telegram and WhatsApp, on fake platforms whose faults are injected below.
        "BALCAO_TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "BALCAO_TELEGRAM_WEBHOOK_SECRET": setup.secrets["telegram"],
        "BALCAO_TELEGRAM_API_URL": f"{setup.telegram.url}/bot",
        "BALCAO_TELEGRAM_TIMEOUT_S": str(PLATFORM_TIMEOUT_S),
        "BALCAO_TWILIO_ACCOUNT_SID": TWILIO_SID,
        "BALCAO_TWILIO_AUTH_TOKEN": setup.secrets["twilio"],
        "BALCAO_TWILIO_WHATSAPP_FROM": TWILIO_FROM,
        "BALCAO_TWILIO_API_URL": setup.twilio.url,
        "BALCAO_TWILIO_TIMEOUT_S": str(PLATFORM_TIMEOUT_S),
        "BALCAO_OUTBOX_BACKOFF_S": "0.5",
    }


@contextlib.contextmanager
def scaled_setup() -> Iterator[Setup]:
    """The scaled setup on databases and a Redis of its own; everything stopped and dropped after."""
    folder = Path(tempfile.mkdtemp(prefix="balcao-chaos-"))
    db = f"balcao_chaos_{uuid.uuid4().hex[:8]}"
    public = _free_block(3, 23000)
    rasa = _free_block(3, public + 10)
    secrets_ = {"telegram": secrets.token_urlsafe(24), "twilio": secrets.token_urlsafe(16)}
    inboxes = Inboxes()
    telegram, twilio = LoadTelegram(TELEGRAM_TOKEN), LoadTwilio(TWILIO_SID, secrets_["twilio"])
    telegram.inboxes = twilio.inboxes = inboxes
    setup = Setup(
        f"http://127.0.0.1:{public}",
        db,
        [public + 1, public + 2],
        [rasa + 1, rasa + 2],
        _free_block(1, rasa + 10),
        folder,
        telegram,
        twilio,
        secrets_,
        inboxes,
    )
    asyncio.run(_pg(f'CREATE DATABASE "{db}"'))
    try:
        telegram.start()
        twilio.start()
        setup.start_redis()
        env = _environment(setup, public, rasa)
        setup.runner = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from hub.cli import main; sys.exit(main(['run', '--replicas', '2', '--rasa', '2']))",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        ready = threading.Event()

        def read() -> None:
            for line in setup.runner.stdout or ():  # type: ignore[union-attr] # set just above
                setup.output.append(line)
                if "Ctrl-C stops everything" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        print(f"starting the scaled setup (logs in {folder / 'scaled' / 'logs'})…", flush=True)
        ready.wait(1200)
        if setup.runner.poll() is not None or not any("Ctrl-C stops everything" in line for line in setup.output):
            raise RuntimeError("the scaled setup did not start:\n" + "".join(setup.output)[-3000:])
        for port in setup.rasa_ports:
            _warm_up(f"http://127.0.0.1:{port}")
        yield setup
    finally:
        if setup.runner is not None:
            if setup.runner.poll() is None:
                setup.runner.send_signal(signal.SIGINT)
            try:
                setup.runner.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(setup.runner.pid, signal.SIGKILL)
                setup.runner.wait()
        setup.kill_redis()
        telegram.stop()
        twilio.stop()
        for name in (db, f"{db}_rasa"):
            with contextlib.suppress(Exception):
                asyncio.run(_pg(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        shutil.rmtree(folder, ignore_errors=True)


def _warm_up(rasa_url: str) -> None:
    """One turn straight to each Rasa server: its first turn loads its policies."""
    for _ in range(120):
        with contextlib.suppress(httpx.HTTPError):
            r = httpx.post(
                f"{rasa_url}/webhooks/rest/webhook", json={"sender": f"warm-{uuid.uuid4().hex}", "message": "oi"}, timeout=300
            )
            if r.status_code == 200:
                return
        time.sleep(2)


def _pid_of(predicate: Callable[[str, dict[str, str]], bool]) -> int | None:
    """The process whose command line and environment satisfy ``predicate`` (read from /proc)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = dict(
                item.split("=", 1)
                for item in (entry / "environ").read_bytes().decode(errors="replace").split("\0")
                if "=" in item
            )
        except OSError:
            continue
        if predicate(cmdline, environ):
            return int(entry.name)
    return None


# --- the customers --------------------------------------------------------------------------------


@dataclass
class Sent:
    client_id: str  # the widget's message id, or the platform's (Telegram update, Twilio message)
    customer: str
    at: float
    acked: float | None = None
    channel: str = "widget"

    @property
    def stored_as(self) -> str:
        """The message's ``channel_message_id`` in the hub's database."""
        return f"{self.customer}:{self.client_id}" if self.channel == "widget" else self.client_id


@dataclass
class Customer:
    """A widget customer as widget.js behaves: kept until acked, resent (same id) after reconnecting."""

    url: str
    token: str | None = None
    customer_id: str = ""
    ws: websockets.ClientConnection | None = None
    seen: dict[int, int] = field(default_factory=dict)  # reply id → times delivered to this page
    history_ids: set[int] = field(default_factory=set)

    async def connect(self) -> None:
        delay = 0.5
        while True:
            try:
                async with httpx.AsyncClient(trust_env=False, timeout=15) as client:
                    r = await client.post(f"{self.url}/widget/session", json={"token": self.token})
                    r.raise_for_status()
                    self.token = r.json()["token"]
                ws_url = self.url.replace("http", "ws") + "/widget/ws?lang=pt-BR"
                protocols = ["balcao.widget", f"balcao.token.{self.token}"]
                self.ws = await websockets.connect(ws_url, subprotocols=protocols, open_timeout=20)  # type: ignore[arg-type] # subprotocol names
                history = json.loads(await asyncio.wait_for(self.ws.recv(), 20))
                # A reconnected page redraws from the history: what it holds is not delivered again.
                self.history_ids = {m["id"] for m in history.get("messages", []) if m.get("id")}
                return
            except (httpx.HTTPError, OSError, InvalidStatus, ConnectionClosed, TimeoutError, ValueError):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 4)

    async def say(self, text: str, sent: Sent, until: float) -> None:
        frame = {"type": "message", "text": text, "id": sent.client_id}
        while time.monotonic() < until:
            try:
                assert self.ws is not None
                await self.ws.send(json.dumps(frame))
                while time.monotonic() < until:  # frames (typing…) may keep coming without the ack
                    got = json.loads(await asyncio.wait_for(self.ws.recv(), max(0.1, min(60, until - time.monotonic()))))
                    if got.get("type") == "message" and got.get("id") and got["id"] not in self.history_ids:
                        self.seen[got["id"]] = self.seen.get(got["id"], 0) + 1
                    if got.get("id") == sent.client_id and got.get("type") == "ack":
                        sent.acked = time.monotonic()
                        return
                    if got.get("id") == sent.client_id and got.get("type") == "error" and got.get("code") != "unavailable":
                        return  # refused (never expected here): counted as not stored
            except (ConnectionClosed, TimeoutError, OSError):
                pass
            await self.connect()

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()


async def load(url: str, customers: int, seconds: float, sent: list[Sent], pages: list[Customer]) -> None:
    """``customers`` widget customers asking FAQ questions for ``seconds`` (then their last messages
    are given up to 120 s more to be stored)."""
    stop_at = time.monotonic() + seconds

    async def one(n: int) -> None:
        page = Customer(url)
        pages.append(page)
        await page.connect()
        page.customer_id = json.loads(_b64(page.token.split(".")[0]))["c"] if page.token else ""
        while time.monotonic() < stop_at:
            record = Sent(uuid.uuid4().hex, page.customer_id, time.monotonic())
            sent.append(record)
            await page.say(random.choice(QUESTIONS), record, stop_at + 120)
            await asyncio.sleep(random.uniform(1.0, 2.5))  # think time
        await page.close()

    await asyncio.gather(*(one(n) for n in range(customers)))


async def channel_load(
    setup: Setup,
    kind: type[TelegramCustomer | WhatsAppCustomer],
    customers: int,
    seconds: float,
    sent: list[Sent],
    people: list,
    twice: list[bool],
) -> None:
    """``customers`` Telegram or WhatsApp customers asking FAQ questions for ``seconds``. A webhook
    the hub does not take (not 200) is posted again, as the platforms do; while ``twice[0]``, each
    message is followed by the one before it, again (delivered twice, and out of order)."""
    stop_at = time.monotonic() + seconds
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        platforms = Platforms(
            setup.url, http, setup.inboxes, setup.secrets["telegram"], TWILIO_SID, setup.secrets["twilio"], TWILIO_FROM
        )

        async def deliver(person: TelegramCustomer | WhatsAppCustomer, payload: dict, record: Sent | None, until: float) -> None:
            delay = 0.5
            while time.monotonic() < until:
                with contextlib.suppress(httpx.HTTPError):
                    if await person.post(payload) == 200:
                        if record is not None:
                            record.acked = time.monotonic()
                        return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 4)

        async def one() -> None:
            person = kind(platforms)
            await person.open()
            people.append(person)
            previous: dict | None = None
            while time.monotonic() < stop_at:
                message_id, payload = person.payload(random.choice(QUESTIONS))
                record = Sent(message_id, person.customer_id, time.monotonic(), channel=kind.channel)
                sent.append(record)
                await deliver(person, payload, record, stop_at + 120)
                if twice[0] and previous is not None:
                    await deliver(person, previous, None, stop_at + 120)
                previous = payload
                await asyncio.sleep(random.uniform(1.0, 2.5))  # think time

        await asyncio.gather(*(one() for _ in range(customers)))


def _b64(payload: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))


# --- the faults -----------------------------------------------------------------------------------


async def _cut(database: str) -> None:
    await _pg("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", database)


def fault_actions(setup: Setup) -> dict[str, Callable[[], Awaitable[float]]]:
    """Each fault: inject it, return the monotonic time it ended (recovery is counted from there)."""

    async def hub_kill() -> float:
        port = str(setup.hub_ports[0])
        pid = _pid_of(lambda cmd, env: "'serve'" in cmd and env.get("BALCAO_PORT") == port)
        assert pid, "hub 1 not found"
        os.kill(pid, signal.SIGKILL)
        return time.monotonic()

    async def rasa_kill() -> float:
        port = str(setup.rasa_ports[0])
        pid = _pid_of(lambda cmd, env: "rasa" in cmd and f"--port {port}" in cmd)
        assert pid, "Rasa server 1 not found"
        os.kill(pid, signal.SIGKILL)
        return time.monotonic()

    async def db_cut() -> float:
        await _cut(setup.database)
        await _cut(f"{setup.database}_rasa")
        return time.monotonic()

    async def db_down() -> float:
        await _pg(f'ALTER DATABASE "{setup.database}" ALLOW_CONNECTIONS false')
        try:
            await _cut(setup.database)
            await asyncio.sleep(10)
        finally:
            await _pg(f'ALTER DATABASE "{setup.database}" ALLOW_CONNECTIONS true')
        return time.monotonic()

    async def redis_down() -> float:
        setup.kill_redis()
        await asyncio.sleep(5)
        setup.start_redis()
        return time.monotonic()

    def platform_fault(fake: LoadTelegram | LoadTwilio, method: str, how: str) -> Callable[[], Awaitable[float]]:
        """For ``PLATFORM_FAULT_S``: every send answered 5xx, or 429 (retry after 2 s), or taken and
        answered after the hub stopped waiting (it cannot tell whether the message went)."""

        async def inject() -> float:
            if how == "timeout":
                fake.delay_s = PLATFORM_TIMEOUT_S + 2.0
            elif method == "sendMessage":
                status, body = (
                    (500, {"ok": False, "error_code": 500, "description": "Internal Server Error"})
                    if how == "5xx"
                    else (
                        429,
                        {"ok": False, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": 2}},
                    )
                )
                fake.fail_next(method, status, body, times=1_000_000)
            else:
                status = 503 if how == "5xx" else 429
                fake.fail_next(
                    method, status, {"code": 20500 if status >= 500 else 20429, "message": how, "status": status}, times=1_000_000
                )
            try:
                await asyncio.sleep(PLATFORM_FAULT_S)
            finally:
                fake.delay_s = 0.0
                with fake.lock:
                    fake.failures.pop(method, None)
            return time.monotonic()

        return inject

    twice = setup.twice

    async def webhook_twice() -> float:
        twice[0] = True
        try:
            await asyncio.sleep(PLATFORM_FAULT_S)
        finally:
            twice[0] = False
        return time.monotonic()

    return {
        "hub_kill": hub_kill,
        "rasa_kill": rasa_kill,
        "db_cut": db_cut,
        "db_down": db_down,
        "redis_down": redis_down,
        **{
            f"{name}_{how}": platform_fault(fake, method, how)
            for name, fake, method in (("telegram", setup.telegram, "sendMessage"), ("whatsapp", setup.twilio, "messages"))
            for how in ("5xx", "429", "timeout")
        },
        "webhook_twice": webhook_twice,
    }


FAULTS = (
    "hub_kill",
    "rasa_kill",
    "db_cut",
    "db_down",
    "redis_down",
    *(f"{name}_{how}" for name in ("telegram", "whatsapp") for how in ("5xx", "429", "timeout")),
    "webhook_twice",
)
# Which customers each fault's load has (the widget for the rest; webhook_twice: Telegram and WhatsApp).
CHANNEL_OF = {f"{name}_{how}": name for name in ("telegram", "whatsapp") for how in ("5xx", "429", "timeout")}


async def count(setup: Setup, sent: list[Sent], pages: list[Customer], fault_end: float) -> dict:
    """What happened to the messages of one fault's customers, from the database and their pages."""
    connection = await asyncpg.connect(f"{PG}/{setup.database}")
    try:
        ids = [s.stored_as for s in sent]
        rows = await connection.fetch(
            "SELECT channel_message_id, count(*) AS n FROM messages WHERE channel_message_id = ANY($1::text[]) "
            "GROUP BY channel_message_id",
            ids,
        )
        stored = {r["channel_message_id"]: r["n"] for r in rows}
        answered = await connection.fetchval(
            """
            SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
            WHERE m.channel_message_id = ANY($1::text[]) AND (
                c.state IN ('queued', 'human')
                OR (SELECT n.sender FROM messages n WHERE n.conversation_id = m.conversation_id AND n.id > m.id
                    ORDER BY n.id LIMIT 1) IN ('bot', 'system'))
            """,
            ids,
        )
        customers = list({s.customer for s in sent})
        two_owners = await connection.fetchval(
            "SELECT count(*) FROM (SELECT customer_id FROM conversations WHERE customer_id = ANY($1::text[]) "
            "AND state <> 'closed' GROUP BY channel, customer_id HAVING count(*) > 1) t",
            customers,
        )
        queued = await connection.fetchval(
            "SELECT count(*) FROM conversations WHERE customer_id = ANY($1::text[]) AND state IN ('queued', 'human')", customers
        )
    finally:
        await connection.close()
    after: dict[str, float] = {}
    for s in sent:
        if s.acked is not None and s.at >= fault_end - 0.5:
            after[s.customer] = min(after.get(s.customer, s.acked), s.acked)
    recovered = max(after.values()) - fault_end if len(after) == len(customers) else None
    return {
        "sent": len(sent),
        "stored": len(stored),
        "answered": answered,
        "conversations_queued_for_a_person": queued,
        "duplicates": sum(n - 1 for n in stored.values()),
        "lost": len(sent) - len(stored),
        "outbound_more_than_once": sum(1 for p in pages for n in p.seen.values() if n > 1),
        "two_owners": two_owners,
        "recover_s": round(recovered, 1) if recovered is not None else None,
        "unacked_at_end": sum(1 for s in sent if s.acked is None),
    }


async def outbound(setup: Setup, people: list, created_by: datetime | None = None) -> tuple[int, int, int]:
    """(rows not yet sent, rows given up, replies the platforms took more than once) for these
    Telegram and WhatsApp customers; only rows created by ``created_by`` count as not yet sent."""
    connection = await asyncpg.connect(f"{PG}/{setup.database}")
    try:
        rows = await connection.fetch(
            "SELECT customer_id, status, parts_sent, created_at FROM outbox WHERE customer_id = ANY($1::text[])",
            [p.customer_id for p in people],
        )
    finally:
        await connection.close()
    unsent = sum(
        1 for r in rows if r["status"] in ("pending", "sending") and (created_by is None or r["created_at"] <= created_by)
    )
    given_up = sum(1 for r in rows if r["status"] == "failed")
    parts: dict[str, int] = {}
    for r in rows:
        if r["status"] in ("sent", "delivered", "read"):
            parts[r["customer_id"]] = parts.get(r["customer_id"], 0) + r["parts_sent"]
    twice = sum(max(0, len(p.inbox) - parts.get(p.customer_id, 0)) for p in people)
    return unsent, given_up, twice


async def run_fault(setup: Setup, name: str, inject: Callable[[], Awaitable[float]], customers: int, seconds: float) -> dict:
    sent: list[Sent] = []
    pages: list[Customer] = []
    people: list[TelegramCustomer | WhatsAppCustomer] = []
    channel = CHANNEL_OF.get(name)
    loading: asyncio.Future
    if name == "webhook_twice":
        half = customers // 2
        loading = asyncio.gather(
            channel_load(setup, TelegramCustomer, half, seconds, sent, people, setup.twice),
            channel_load(setup, WhatsAppCustomer, customers - half, seconds, sent, people, setup.twice),
        )
    elif channel is not None:
        kind = TelegramCustomer if channel == "telegram" else WhatsAppCustomer
        loading = asyncio.ensure_future(channel_load(setup, kind, customers, seconds, sent, people, setup.twice))
    else:
        loading = asyncio.ensure_future(load(setup.url, customers, seconds, sent, pages))
    await asyncio.sleep(min(8, seconds / 4))
    started = time.monotonic()
    print(f"{name}: injecting under load ({customers} customers)…", flush=True)
    ended = await inject()
    db_end = (await _pg("SELECT now() AS t"))[0]["t"]
    recovered_at: float | None = None
    if people:  # recovered: every reply queued during the fault has reached the platform
        while time.monotonic() < ended + 180:
            if (await outbound(setup, people, db_end))[0] == 0:
                recovered_at = time.monotonic()
                break
            await asyncio.sleep(0.5)
    await loading
    result = await count(setup, sent, pages, ended)
    if people:
        deadline = time.monotonic() + 120  # the last replies leave the outbox
        unsent, given_up, twice = await outbound(setup, people)
        while unsent and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            unsent, given_up, twice = await outbound(setup, people)
        result["outbound_more_than_once"] = twice
        result["replies_not_sent"] = unsent + given_up
        result["recover_s"] = round(recovered_at - ended, 1) if recovered_at is not None else None
        for person in people:
            await person.close()
    result["fault_s"] = round(ended - started, 1)
    print(f"{name}: {json.dumps(result)}", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=6, help="concurrent customers per fault (default 6)")
    parser.add_argument("--seconds", type=float, default=40, help="load per fault, fault included (default 40)")
    parser.add_argument("--faults", default=",".join(FAULTS), help="a comma-separated subset of: " + ", ".join(FAULTS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not shutil.which("redis-server"):
        print("needs redis-server (Debian's redis-server package)", file=sys.stderr)
        return 2
    started = time.monotonic()
    results: dict[str, dict] = {}
    with scaled_setup() as setup:
        actions = fault_actions(setup)
        for name in args.faults.split(","):
            results[name] = asyncio.run(run_fault(setup, name, actions[name], args.customers, args.seconds))
            time.sleep(5)  # the restarted replica or Rasa server settles before the next fault
        restarts = [line.strip() for line in setup.output if "starting it again" in line]
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "setup": "balcao run --replicas 2 --rasa 2 (HAProxy), PostgreSQL 127.0.0.1, private redis-server",
        "machine": "2 cores, shared with other work during the run",
        "customers_per_fault": args.customers,
        "seconds_per_fault": args.seconds,
        "total_s": round(time.monotonic() - started),
        "runner_restarts": restarts,
        "faults": results,
        "must_be_zero": {
            name: {k: r[k] for k in ("lost", "duplicates", "outbound_more_than_once", "two_owners", "replies_not_sent") if k in r}
            for name, r in results.items()
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(report["must_be_zero"]))
    bad = [name for name, zero in report["must_be_zero"].items() if any(zero.values())]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
