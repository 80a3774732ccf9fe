"""A hub that loses PostgreSQL or Redis while it runs: customers are answered politely, what was
stored stays stored (once), and the hub recovers by itself when they return.

Real parts only: the hubs run on a PostgreSQL database of their own (the machine's server stays up:
only this database's connections are cut, and it is closed to new ones with ``ALLOW_CONNECTIONS
false``), and the Redis faults use a private ``redis-server`` on a port of its own, killed and
started again (the machine's Redis is never touched). No Rasa answers these hubs, so every
customer's first message is queued for a person (the bounded wait has passed): what a customer is
told is the hub's own wording."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from hub.operations import add_user
from hub.settings import ROOT
from tests.support import AgentClient, RunningHub, free_port, hub_settings, pg_admin, start_hub, wait_until, widget_protocols

pytestmark = pytest.mark.postgres

ANA = ("ana@loja.test", "ana-password-1")


# --- the faults ---------------------------------------------------------------------------------


async def cut_connections(database: str) -> int:
    """Terminate every connection to ``database`` (never another database's): how many."""
    import asyncpg

    from tests.support import PG_ADMIN

    admin = await asyncpg.connect(PG_ADMIN)
    try:
        return len(
            await admin.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
        )
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def database_unreachable(database: str) -> AsyncIterator[None]:
    """``database`` refuses new connections and loses its open ones until the block ends."""
    await pg_admin(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
    try:
        await cut_connections(database)
        yield
    finally:
        await pg_admin(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')


@dataclass
class PrivateRedis:
    """A ``redis-server`` of this test's own, on ``port``; killed (SIGKILL) and started again."""

    port: int
    folder: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            command, cwd=self.folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        wait_until(self.ping, 10, "the private redis-server")
        return self

    def ping(self) -> bool:
        client = redis.Redis(port=self.port, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def subscribers(self, channel: str) -> int:
        """How many connections listen to ``channel`` (one per hub replica's relay)."""
        client = redis.Redis(port=self.port, socket_timeout=1)
        try:
            return int(dict(client.pubsub_numsub(channel)).get(channel.encode(), 0))
        except redis.RedisError:
            return 0
        finally:
            client.close()


# --- a customer who behaves like widget.js --------------------------------------------------------


@dataclass
class PatientCustomer:
    """A widget customer that behaves as ``widget.js`` does: a message is kept until the hub acks
    it; when the socket closes first, it reconnects (with the widget's back-off) and sends the same
    message again, same id, unless the history shows it stored."""

    url: str
    lang: str = "pt-BR"
    token: str | None = None
    ws: websockets.ClientConnection | None = None
    history: dict = field(default_factory=dict)
    told: list[dict] = field(default_factory=list)  # every message and error frame the customer saw
    reconnects: int = 0

    async def connect(self, timeout_s: float = 60) -> None:
        """Open the widget (a fresh token, the socket, its history), retrying as the widget does."""
        delay = 0.5
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            try:
                async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
                    r = await client.post(f"{self.url}/widget/session", json={"token": self.token})
                    r.raise_for_status()
                    self.token = r.json()["token"]
                ws_url = self.url.replace("http", "ws") + f"/widget/ws?lang={self.lang}"
                self.ws = await websockets.connect(ws_url, subprotocols=widget_protocols(self.token))
                self.history = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
                return
            except (httpx.HTTPError, OSError, InvalidStatus, ConnectionClosed, TimeoutError) as exc:
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"the widget could not reconnect: {exc!r}") from exc
                self.reconnects += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 4)

    async def say(self, text: str, timeout_s: float = 90) -> str:
        """Send ``text`` until the hub acks it; returns the message's id."""
        message_id = uuid.uuid4().hex
        frame = {"type": "message", "text": text, "id": message_id}
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            assert self.ws is not None
            try:
                await self.ws.send(json.dumps(frame))
                while True:
                    got = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
                    if got.get("type") in ("message", "error"):
                        self.told.append(got)
                    if got.get("id") == message_id and got.get("type") == "ack":
                        return message_id
                    if got.get("id") == message_id and got.get("type") == "error" and got.get("code") != "unavailable":
                        raise AssertionError(f"refused: {got}")
            except ConnectionClosed:
                pass
            assert asyncio.get_running_loop().time() < deadline, f"{text!r} was never stored"
            await self.connect()
            if message_id in {m.get("client_id") for m in self.history["messages"]}:
                return message_id  # stored: only the ack was lost

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    def texts(self, sender: str = "customer") -> list[str]:
        return [m["text"] for m in self.history["messages"] if m["sender"] == sender]


# --- fixtures -------------------------------------------------------------------------------------


def one_article_kb(tmp: Path) -> Path:
    """A knowledge base of one article: these hubs never ask Rasa, and encoding the whole starter
    base takes minutes on a loaded 2-core machine."""
    kb = tmp / "kb"
    (kb / "pt-BR").mkdir(parents=True)
    shutil.copy(ROOT / "data" / "kb" / "pt-BR" / "prazo-de-entrega.md", kb / "pt-BR")
    return kb


@dataclass
class Desk:
    hubs: list[RunningHub]
    database: str
    redis: PrivateRedis


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[Desk]:
    """Two hub replicas on a PostgreSQL database of their own and a private Redis; Ana, an agent."""
    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server")
    tmp = tmp_path_factory.mktemp("faults")
    name = f"balcao_faults_{uuid.uuid4().hex[:10]}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    redis = PrivateRedis(free_port(), tmp)
    hubs: list[RunningHub] = []
    try:
        redis.start()
        shared = dict(
            database_url=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}",
            redis_url=redis.url,
            redis_prefix=f"faults-{uuid.uuid4().hex[:6]}",
            rasa_timeout_s=0.5,
            rasa_attempts=1,
            turn_lock_s=5,
            kb_dir=one_article_kb(tmp),
        )
        hubs.append(start_hub(hub_settings(tmp, cache_dir=index_cache, **shared)))
        hubs.append(start_hub(hub_settings(tmp, cache_dir=index_cache, **shared)))
        asyncio.run(add_user(hubs[0].settings, email=ANA[0], name="Ana", role="agent", teams=["geral"], password=ANA[1]))
        yield Desk(hubs, name, redis)
    finally:
        for hub in hubs:
            hub.stop()
        redis.kill()
        asyncio.run(pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def stored_texts(desk: Desk, customer: PatientCustomer) -> list[str]:
    """The customer's messages as a page that opens now shows them."""
    again = PatientCustomer(desk.hubs[0].url, token=customer.token)
    await again.connect()
    await again.close()
    return again.texts()


# --- PostgreSQL -----------------------------------------------------------------------------------


async def test_every_database_connection_cut_mid_conversation_is_not_noticed_by_the_customer(desk: Desk) -> None:
    customer = PatientCustomer(desk.hubs[0].url)
    await customer.connect()
    await customer.say("Olá, o meu pedido não chegou")
    assert await cut_connections(desk.database) > 0  # the hubs' pooled connections are all gone

    await customer.say("É o pedido 1234")
    await customer.say("Chegou alguma novidade?")
    assert customer.reconnects == 0  # the same page, never dropped, never told to wait
    assert not [f for f in customer.told if f.get("type") == "error"]
    await customer.close()
    assert await stored_texts(desk, customer) == ["Olá, o meu pedido não chegou", "É o pedido 1234", "Chegou alguma novidade?"]


async def test_a_database_gone_for_ten_seconds_is_met_politely_and_the_hub_recovers_by_itself(desk: Desk) -> None:
    customer = PatientCustomer(desk.hubs[1].url)
    await customer.connect()
    await customer.say("Quero trocar o tamanho")
    answered = len(customer.told)
    async with database_unreachable(desk.database):
        sent = asyncio.create_task(customer.say("É um 42, preciso de um 43"))
        await asyncio.sleep(10)
        assert not sent.done()  # kept by the page: not stored yet, not lost either
    await asyncio.wait_for(sent, 90)  # sent again by the page, stored once the database is back
    told = customer.told[answered:]
    polite = [f for f in told if f.get("type") == "error" and f.get("code") == "unavailable"]
    assert polite and "mensagem" in polite[0]["message"].lower()  # told in their language, not a dropped page

    await customer.say("Obrigado")  # the hub recovered by itself
    await customer.close()
    assert await stored_texts(desk, customer) == ["Quero trocar o tamanho", "É um 42, preciso de um 43", "Obrigado"]


async def test_staff_get_a_503_not_a_500_while_the_database_is_gone(desk: Desk) -> None:
    agent = await AgentClient(desk.hubs[0].url, *ANA).login()
    try:
        async with database_unreachable(desk.database):
            r = await agent.http.get("/api/agent/queue")
            assert r.status_code == 503 and r.headers.get("Retry-After")
        assert (await agent.http.get("/api/agent/queue")).status_code == 200
    finally:
        await agent.aclose()


# --- Redis ----------------------------------------------------------------------------------------


def cookie_of(client: httpx.AsyncClient) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in client.cookies.items())}


async def console_event(console: websockets.ClientConnection, wanted: dict, timeout_s: float = 20) -> dict:
    """The console's next event with every key and value of ``wanted``."""
    while True:
        event = json.loads(await asyncio.wait_for(console.recv(), timeout_s))
        if all(event.get(k) == v for k, v in wanted.items()):
            return event


async def test_redis_killed_and_started_again_customers_are_answered_and_replicas_hear_each_other_again(desk: Desk) -> None:
    a, b = desk.hubs
    channel = f"{a.settings.redis_prefix}:events"
    agent = await AgentClient(a.url, *ANA).login()
    console_url = a.url.replace("http", "ws") + "/api/agent/ws"
    try:
        async with websockets.connect(console_url, additional_headers=cookie_of(agent.http)) as console:
            customer = PatientCustomer(b.url)
            await customer.connect()
            await customer.say("A minha encomenda veio errada")
            # Hub B queued the chat for a person (no bot): Ana's console on hub A hears it through Redis.
            await console_event(console, {"type": "owner", "to_state": "queued"})

            desk.redis.kill()
            await customer.say("Veio a cor errada")  # no shared turn lock, no relay: still stored and answered
            assert customer.reconnects == 0

            desk.redis.start()  # empty, as after a restart without persistence
            await asyncio.to_thread(wait_until, lambda: desk.redis.subscribers(channel) == 2, 30, "both relays subscribed")
            await customer.say("Podem trocar?")
            # The replicas hear each other again.
            await console_event(console, {"type": "message", "sender": "customer", "text": "Podem trocar?"})
            await customer.close()
        assert await stored_texts(desk, customer) == ["A minha encomenda veio errada", "Veio a cor errada", "Podem trocar?"]
    finally:
        await agent.aclose()
        if desk.redis.process is None:
            desk.redis.start()
