"""The scaled setup as `make run-scaled` starts it: `balcao run --replicas 2 --rasa 1`, i.e. two hub
processes and a real Rasa server (trackers in PostgreSQL, locks in Redis) behind HAProxy. A customer
talking to both replicas at once has each message stored once and answered in order; a widget that
reconnects to the other replica loses nothing and shows nothing twice; Ctrl-C leaves nothing behind."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets

from hub.settings import ROOT
from tests.channel_fakes import FakeTelegram, wait_for
from tests.conftest import TELEGRAM_SECRET, TELEGRAM_TOKEN
from tests.support import pg_admin, widget_protocols

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not (shutil.which("haproxy") or Path("/usr/sbin/haproxy").exists()), reason="needs HAProxy"),
]

REDIS = "redis://127.0.0.1:6379/0"
START_TIMEOUT_S = 900


def free_ports(count: int, *, after: int = 21000) -> int:
    """The first of ``count`` consecutive free ports on 127.0.0.1, from ``after`` on."""
    for start in range(after, 30000, 10):
        try:
            sockets = []
            for port in range(start, start + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
        return start
    raise RuntimeError("no free ports")


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Scaled:
    url: str
    database: str
    ports: list[int]  # every port the setup listens on
    rasa_url: str
    rasa_token: str
    output: list[str]


def _environment(tmp: Path, db: str, index_cache: Path, public: int, rasa: int, telegram: FakeTelegram) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("BALCAO_")},
        "PYTHONPATH": str(ROOT),
        "BALCAO_ENVIRONMENT": "test",
        "BALCAO_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{db}",
        "BALCAO_REDIS_URL": REDIS,
        "BALCAO_REDIS_PREFIX": db,
        "BALCAO_PORT": str(public),
        "BALCAO_RASA_URL": f"http://127.0.0.1:{rasa}",
        "BALCAO_RASA_TOKEN": uuid.uuid4().hex,
        "BALCAO_RASA_TIMEOUT_S": "60",  # a turn on a busy 2-core machine (Rasa is warmed up first)
        "BALCAO_RASA_ATTEMPTS": "1",
        "BALCAO_BOT_WAIT_S": "60",  # and the bounded wait (backpressure) as long
        "BALCAO_TURN_LOCK_S": "60",
        "BALCAO_SECRETS_FILE": str(tmp / "secrets.json"),
        "BALCAO_INDEX_DIR": str(index_cache),
        "BALCAO_MEDIA_DIR": str(tmp / "media"),
        "BALCAO_SCALED_DIR": str(tmp / "scaled"),
        "BALCAO_RATE_IP_PER_MINUTE": "1000000",
        "BALCAO_RATE_IP_BURST": "1000000",
        "BALCAO_INACTIVITY_SECONDS": "3600",
        "BALCAO_TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "BALCAO_TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
        "BALCAO_TELEGRAM_API_URL": f"{telegram.url}/bot",
        "BALCAO_OUTBOX_BACKOFF_S": "0.05",
    }


def _warm_up(rasa_url: str) -> None:
    """One turn straight to Rasa before the stories: a cold server's first turn loads its policies
    and can take longer than the hub waits for a reply on a loaded machine (the hub would then,
    rightly, hand the customer to a person, which is not what these stories are about)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            r = httpx.post(
                f"{rasa_url}/webhooks/rest/webhook", json={"sender": f"warm-up-{uuid.uuid4().hex}", "message": "oi"}, timeout=300
            )
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "Rasa did not answer a first turn"
        time.sleep(2)


@pytest.fixture(scope="module")
def scaled(
    tmp_path_factory: pytest.TempPathFactory, index_cache: Path, rasa_model: Path, fake_telegram: FakeTelegram
) -> Iterator[Scaled]:
    """`balcao run --replicas 2 --rasa 1` on a database of its own; stopped with Ctrl-C (SIGINT)
    whatever happens, and checked to leave no port open."""
    tmp = tmp_path_factory.mktemp("scaled")
    db = f"balcao_scaled_{uuid.uuid4().hex[:8]}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{db}"'))
    public = free_ports(3)
    rasa = free_ports(2, after=public + 10)
    env = _environment(tmp, db, index_cache, public, rasa, fake_telegram)
    runner = subprocess.Popen(
        [sys.executable, "-c", "import sys; from hub.cli import main; sys.exit(main(['run', '--replicas', '2', '--rasa', '1']))"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in runner.stdout or ():
            output.append(line)
            if "Ctrl-C stops everything" in line:
                ready.set()
        ready.set()  # the runner ended: the fixture reports why

    threading.Thread(target=read, daemon=True).start()
    ports = [public, public + 1, public + 2, rasa, rasa + 1]
    try:
        ready.wait(START_TIMEOUT_S)
        assert runner.poll() is None and "Ctrl-C stops everything" in "".join(output), "".join(output)[-4000:]
        _warm_up(f"http://127.0.0.1:{rasa}")
        yield Scaled(
            f"http://127.0.0.1:{public}",
            f"postgresql://postgres@127.0.0.1:5432/{db}",
            ports,
            f"http://127.0.0.1:{rasa}",
            env["BALCAO_RASA_TOKEN"],
            output,
        )
    finally:
        if runner.poll() is None:
            runner.send_signal(signal.SIGINT)
        try:
            runner.wait(60)
        except subprocess.TimeoutExpired:
            runner.kill()  # its processes get SIGTERM from the kernel (parent-death signal)
            runner.wait()
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{db}_rasa" WITH (FORCE)'))
    assert runner.returncode == 0, "".join(output)[-4000:]
    assert [p for p in ports if listening(p)] == [], "a process of the scaled setup is still listening"


async def widget_token(url: str) -> str:
    async with httpx.AsyncClient(trust_env=False) as client:
        r = await client.post(f"{url}/widget/session", json={})
        r.raise_for_status()
        return r.json()["token"]


async def socket_on(
    url: str, token: str, replica: str | None = None, *, avoid: str | None = None
) -> tuple[str, websockets.ClientConnection, dict]:
    """A widget WebSocket through HAProxy that landed on ``replica`` (or not on ``avoid``): its
    replica's name (HAProxy's X-Balcao-Replica header), the socket and the history it got."""
    for _ in range(10):
        ws = await websockets.connect(url.replace("http", "ws") + "/widget/ws?lang=pt-BR", subprotocols=widget_protocols(token))
        name = ws.response.headers.get("X-Balcao-Replica", "")
        if (replica is None or name == replica) and name != avoid:
            return name, ws, json.loads(await asyncio.wait_for(ws.recv(), 30))
        await ws.close()
    raise AssertionError("HAProxy never sent the widget to the wanted replica")


async def until_ack(ws: websockets.ClientConnection, message_id: str, frames: list[dict]) -> None:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
        frames.append(frame)
        if frame.get("type") in ("ack", "error") and frame.get("id") == message_id:
            assert frame["type"] == "ack", frame
            return


async def send(ws: websockets.ClientConnection, text: str, frames: list[dict]) -> None:
    message_id = uuid.uuid4().hex
    await ws.send(json.dumps({"type": "message", "text": text, "id": message_id}))
    await until_ack(ws, message_id, frames)


async def conversation_of(scaled: Scaled, token: str) -> str:
    """The id of the widget customer's conversation (Rasa's sender id), read from the database."""
    import asyncpg

    payload = token.split(".")[0]
    customer_id = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["c"]
    connection = await asyncpg.connect(scaled.database)
    try:
        return await connection.fetchval("SELECT id FROM conversations WHERE customer_id = $1", customer_id)
    finally:
        await connection.close()


def turns(history: dict) -> list[tuple[str, str]]:
    return [(m["sender"], m["text"]) for m in history["messages"]]


async def test_two_messages_sent_at_once_to_two_replicas_are_stored_once_and_answered_in_order(scaled: Scaled) -> None:
    token = await widget_token(scaled.url)
    first, on_a, _ = await socket_on(scaled.url, token)
    second, on_b, _ = await socket_on(scaled.url, token, avoid=first)
    assert first != second
    questions = ["qual o prazo de entrega?", "posso pagar com pix?"]
    frames_a: list[dict] = []
    frames_b: list[dict] = []
    await asyncio.gather(send(on_a, questions[0], frames_a), send(on_b, questions[1], frames_b))
    await on_a.close()
    await on_b.close()

    _, again, history = await socket_on(scaled.url, token)
    await again.close()
    said = turns(history)
    customer = [i for i, (sender, _) in enumerate(said) if sender == "customer"]
    assert sorted(said[i][1] for i in customer) == sorted(questions)  # each stored once
    # In order: each question's answers come right after it, before the next question.
    assert len(customer) == 2 and customer[0] == 0 and customer[1] - customer[0] > 1 and len(said) > customer[1] + 1
    assert all(sender == "bot" for sender, _ in said[1 : customer[1]] + said[customer[1] + 1 :])
    answers = {said[customer[0]][1]: said[customer[0] + 1][1], said[customer[1]][1]: said[customer[1] + 1][1]}
    assert "entrega" in answers["qual o prazo de entrega?"].lower()
    assert "pix" in answers["posso pagar com pix?"].lower()
    # Rasa heard each once, in the same order (its trackers are in PostgreSQL, shared by its servers).
    conversation_id = await conversation_of(scaled, token)
    async with httpx.AsyncClient(trust_env=False) as client:
        r = await client.get(f"{scaled.rasa_url}/conversations/{conversation_id}/tracker", params={"token": scaled.rasa_token})
    heard = [e["text"] for e in r.json()["events"] if e.get("event") == "user"]
    assert heard == [said[i][1] for i in customer]


async def test_a_widget_reconnecting_to_the_other_replica_loses_nothing_and_shows_nothing_twice(scaled: Scaled) -> None:
    token = await widget_token(scaled.url)
    first, ws, _ = await socket_on(scaled.url, token)
    frames: list[dict] = []
    await send(ws, "oi", frames)
    # The next message leaves, and the page loses its connection before the answer (a phone
    # switching networks): the widget keeps it unacknowledged and sends it again, same id.
    pending = {"type": "message", "text": "qual o prazo de entrega?", "id": uuid.uuid4().hex}
    await ws.send(json.dumps(pending))
    await ws.close()

    _, ws, history = await socket_on(scaled.url, token, avoid=first)
    # What the widget draws: the history; its own unacknowledged message (sent again, same id)
    # unless the history shows it stored; then the new messages it has not drawn yet, by id.
    shown_customer = [m["text"] for m in history["messages"] if m["sender"] == "customer"]
    shown = {m["id"] for m in history["messages"] if m["sender"] != "customer"}
    frames = []
    if pending["id"] not in {m["client_id"] for m in history["messages"]}:
        shown_customer.append(pending["text"])
        await ws.send(json.dumps(pending))
        await until_ack(ws, pending["id"], frames)
    # The answer may be in the history, among the frames before the ack (a turn's replies are sent
    # before its ack), or still to come from the first replica through Redis.
    seen = [*history["messages"], *(f for f in frames if f.get("type") == "message")]
    answered = [m for m in seen if m["sender"] == "bot" and "entrega" in m["text"].lower()]
    while not answered:  # stored on the first replica, answered there: it arrives through Redis
        frames.append(frame := json.loads(await asyncio.wait_for(ws.recv(), 120)))
        answered = [frame] if frame.get("sender") == "bot" and "entrega" in frame.get("text", "").lower() else []

    def draw(frames: list[dict]) -> None:
        for frame in frames:
            if frame.get("type") == "message":
                assert frame["sender"] != "customer" or frame["text"] not in shown_customer, "shown twice"
                shown.add(frame["id"])

    draw(frames)
    _, final, stored = await socket_on(scaled.url, token)
    await final.close()
    stored_replies = {m["id"] for m in stored["messages"] if m["sender"] != "customer"}
    # The turn's later replies (after the answer) may still be on their way through Redis: the open
    # widget keeps listening, and each must reach it; a lost one ends this wait with a timeout.
    while not stored_replies <= shown:
        draw([json.loads(await asyncio.wait_for(ws.recv(), 60))])
    await ws.close()
    said = turns(stored)
    assert [text for sender, text in said if sender == "customer"] == ["oi", "qual o prazo de entrega?"] == shown_customer
    assert shown == stored_replies  # none lost, none the desk does not have
    assert any("entrega" in text.lower() for sender, text in said if sender == "bot")


async def unsent(scaled: Scaled, customer_id: str) -> int:
    """The customer's outbox rows not yet sent (any replica's worker sends them)."""
    from connectors import outbox
    from connectors.models import Delivery
    from hub.db import make_engine, make_sessionmaker

    engine = make_engine(scaled.database.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        async with make_sessionmaker(engine)() as session:
            rows = await outbox.customer_outbox(session, channel="telegram", customer_id=customer_id)
            return sum(r.status in (Delivery.PENDING.value, Delivery.SENDING.value) for r in rows)
    finally:
        await engine.dispose()


async def test_a_telegram_update_delivered_to_both_replicas_through_haproxy_is_answered_once(
    scaled: Scaled, fake_telegram: FakeTelegram
) -> None:
    user = 7_700_000 + uuid.uuid4().int % 100_000
    person = {"id": user, "is_bot": False, "first_name": "Rosa", "language_code": "pt-br"}
    chat = {"id": user, "type": "private", "first_name": "Rosa"}
    message = {"message_id": 1, "date": 1_800_000_000, "chat": chat, "from": person, "text": "qual o prazo de entrega?"}
    update = {"update_id": user, "message": message}
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    # Telegram retried the webhook: the same update reaches both replicas at once.
    async with httpx.AsyncClient(trust_env=False, timeout=120) as client:
        answers = await asyncio.gather(
            *(client.post(f"{scaled.url}/webhooks/telegram", json=update, headers=headers) for _ in range(2))
        )
    assert {a.headers["X-Balcao-Replica"] for a in answers} == {"hub1", "hub2"}
    assert [a.status_code for a in answers] == [200, 200]

    await wait_for(lambda: fake_telegram.messages_to(user), "the bot's answer on Telegram", 120)
    for _ in range(600):  # then until every reply stored for Rosa has left the outbox
        if not await unsent(scaled, f"tg-{user}"):
            break
        await asyncio.sleep(0.1)
    received = fake_telegram.messages_to(user)
    assert any("entrega" in m["text"].lower() for m in received)
    texts = [m["text"] for m in received]
    assert len(texts) == len(set(texts)), "an answer was sent twice"
