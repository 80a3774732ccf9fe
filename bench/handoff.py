"""Handoff under load, on PostgreSQL: 50 agents race for 500 queued chats.

Measures claim latency (p50/p95), double claims (must be 0) and the time from a customer's widget
message to the agent's console WebSocket (p50/p95), twice side by side: with the customer's widget
on the agent's hub replica, and on a second replica whose events reach the agent through Redis
(``BALCAO_REDIS_URL``). Everything runs on 127.0.0.1 and stops by itself.

    .venv/bin/python bench/handoff.py [--agents 50] [--chats 500] [--messages 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg
import httpx
import uvicorn
import websockets
from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection

import handoff
from connectors.widget import WidgetTokens
from core.http import hub_client
from handoff import Priority, Role
from handoff.models import OwnershipEvent
from hub.db import make_engine, make_sessionmaker, run_migrations, unit_of_work
from hub.secret_store import ensure_secrets
from hub.settings import Settings
from insights.summaries import note_appended

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PASSWORD = "bench-password-1"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 2) if values else 0.0


async def seed(url: str, agents: int, chats: int, secret: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Agents of the `geral` team and queued widget chats, made through the domain functions."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine, listeners=[note_appended])  # as the hub's: KPI summaries kept
    tokens = WidgetTokens(secret)
    emails, customers = [], []
    async with unit_of_work(sessions) as session:
        await handoff.ensure_default_teams(session)
        await handoff.update_team(session, "geral", always_open=True)
        for n in range(agents):
            email = f"agent{n}@bench.test"
            user = await handoff.add_user(
                session, email=email, name=f"Agent {n}", password=PASSWORD, role=Role.AGENT, teams=["geral"]
            )
            user.capacity = chats
            emails.append(email)
        for _ in range(chats):
            customer_id, token = tokens.issue()
            conversation = await handoff.start_conversation(session, channel="widget", customer_id=customer_id, language="pt-BR")
            await handoff.record_message(session, conversation, sender="customer", text="quero falar com uma pessoa")
            await handoff.escalate_conversation(
                session, conversation.id, team_id="geral", priority=Priority.REQUEST, reason="customer_request"
            )
            customers.append((conversation.id, token))
    await engine.dispose()
    return emails, customers


async def login(base: str, email: str) -> httpx.AsyncClient:
    client = hub_client(base_url=base, timeout=30)
    r = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    r.raise_for_status()
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return client


async def race_for_claims(base: str, emails: list[str], deadline: float) -> tuple[list[float], dict[str, list[str]]]:
    """Every agent keeps taking from the top of the queue, so all of them collide on the same chats."""
    clients = [await login(base, e) for e in emails]
    latencies: list[float] = []
    winners: dict[str, list[str]] = {}

    async def agent_loop(client: httpx.AsyncClient, email: str) -> None:
        # Like a person at the console: take the chats at the top of the list they see, and look
        # at the queue again only when everything they saw was taken by others.
        seen: list[str] = []
        while time.monotonic() < deadline:
            if not seen:
                seen = [c["id"] for c in (await client.get("/api/agent/queue")).json()][:5]
                if not seen:
                    return
            target = seen.pop(0)
            start = time.perf_counter()
            r = await client.post(f"/api/agent/conversations/{target}/claim")
            latencies.append((time.perf_counter() - start) * 1000)
            if r.status_code == 200:
                winners.setdefault(target, []).append(email)
            elif r.status_code != 409:
                raise RuntimeError(f"claim answered {r.status_code}: {r.text}")

    await asyncio.gather(*(agent_loop(c, e) for c, e in zip(clients, emails)))
    for c in clients:
        await c.aclose()
    return latencies, winners


async def message_to_agent(
    base: str,
    emails: list[str],
    customers: list[tuple[str, str]],
    winners: dict[str, list[str]],
    count: int,
    *,
    customer_base: str | None = None,
) -> list[float]:
    """Customers write in the widget (on ``customer_base``, default the agents' hub); the time
    until the owning agent's console, on ``base``, receives it."""
    by_agent: dict[str, list[tuple[str, str]]] = {}
    for conversation_id, token in customers:
        if conversation_id in winners:
            by_agent.setdefault(winners[conversation_id][0], []).append((conversation_id, token))
    ws_base = base.replace("http", "ws")
    received: dict[str, float] = {}
    agent_sockets = []
    for email in list(by_agent)[:10]:
        client = await login(base, email)
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        agent_sockets.append(await websockets.connect(f"{ws_base}/api/agent/ws", additional_headers={"Cookie": cookie}))
        await client.aclose()

    async def listen(ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                event = json.loads(raw)
                if event.get("type") == "message" and event.get("sender") == "customer":
                    received.setdefault(event["text"], time.perf_counter())
        except websockets.ConnectionClosed:
            return

    listeners = [asyncio.create_task(listen(ws)) for ws in agent_sockets]
    chats = [c for email in list(by_agent)[:10] for c in by_agent[email]][:count]
    latencies = []
    widget_ws = (customer_base or base).replace("http", "ws")
    for _conversation_id, token in chats:
        async with websockets.connect(
            f"{widget_ws}/widget/ws?lang=pt-BR", subprotocols=["balcao.widget", f"balcao.token.{token}"]
        ) as customer:
            await customer.recv()  # history
            text = f"mensagem {uuid.uuid4().hex}"
            sent = time.perf_counter()
            await customer.send(json.dumps({"type": "message", "text": text, "id": uuid.uuid4().hex}))
            for _ in range(200):
                if text in received:
                    break
                await asyncio.sleep(0.001)
            if text in received:
                latencies.append((received[text] - sent) * 1000)
    for ws in agent_sockets:
        await ws.close()
    for task in listeners:
        task.cancel()
    return latencies


async def count_double_claims(url: str) -> int:
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session:
        rows = await session.execute(
            select(OwnershipEvent.conversation_id, func.count())
            .where(OwnershipEvent.to_state == "human", OwnershipEvent.from_state == "queued")
            .group_by(OwnershipEvent.conversation_id)
            .having(func.count() > 1)
        )
        doubles = len(rows.all())
    await engine.dispose()
    return doubles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=240, help="stop the claim race after this long")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="the Redis the two replicas share")
    args = parser.parse_args()

    name = f"balcao_bench_{uuid.uuid4().hex[:8]}"
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute(sql)
        await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    servers: list[uvicorn.Server] = []
    try:
        run_migrations(url)
        tmp = Path(tempfile.mkdtemp())
        common = dict(
            environment="test",
            database_url=url,
            rasa_url="http://127.0.0.1:1",
            index_dir=tmp,
            encoder="bm25",
            calibration_file=tmp / "none.json",
            kb_dir=tmp,
            inactivity_seconds=3600,
            inactivity_check_seconds=3600,
            redis_url=args.redis,
            redis_prefix=name,
            secrets_file=tmp / "secrets.json",
        )
        replicas = [Settings(port=8300, **common), Settings(port=8301, **common)]
        emails, customers = asyncio.run(seed(url, args.agents, args.chats, ensure_secrets(replicas[0]).widget_secret))
        from hub.runner import hub_server

        for settings in replicas:
            server = hub_server(settings)
            threading.Thread(target=server.run, daemon=True).start()
            servers.append(server)
        while not all(s.started for s in servers):
            time.sleep(0.1)
        base, other = (f"http://127.0.0.1:{s.port}" for s in replicas)
        started = time.monotonic()
        latencies, winners = asyncio.run(race_for_claims(base, emails, time.monotonic() + args.seconds))
        claim_seconds = time.monotonic() - started
        api_doubles = sum(1 for w in winners.values() if len(w) > 1)
        doubles = api_doubles + asyncio.run(count_double_claims(url))
        to_agent = asyncio.run(message_to_agent(base, emails, customers, winners, args.messages))
        across = asyncio.run(message_to_agent(base, emails, customers, winners, args.messages, customer_base=other))
        result = {
            "database": "postgresql",
            "agents": args.agents,
            "queued_chats": args.chats,
            "claimed": len(winners),
            "claim_attempts": len(latencies),
            "claim_race_s": round(claim_seconds, 1),
            "claim_p50_ms": pct(latencies, 0.5),
            "claim_p95_ms": pct(latencies, 0.95),
            "double_claims": doubles,
            "messages_measured": len(to_agent),
            "message_to_agent_p50_ms": pct(to_agent, 0.5),
            "message_to_agent_p95_ms": pct(to_agent, 0.95),
            "other_replica_messages_measured": len(across),
            "message_to_agent_other_replica_p50_ms": pct(across, 0.5),
            "message_to_agent_other_replica_p95_ms": pct(across, 0.95),
            "ratio_p95_other_replica_vs_same": round(pct(across, 0.95) / max(pct(to_agent, 0.95), 0.01), 2),
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "notes": "Two hub replicas (uvicorn, one thread each) on 2 cores, one PostgreSQL database and one Redis; "
            "claims over the JSON API of replica A by 50 logged-in agents all taking the head of the queue; "
            "message time from the widget send to the agent console's WebSocket on replica A, the widget "
            "on replica A, then on replica B (the message reaches A through Redis).",
        }
        out = ROOT / "bench" / "results" / "handoff.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
    finally:
        for server in servers:
            server.should_exit = True
        time.sleep(1)
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
