"""Two hub replicas behind a load balancer, on one PostgreSQL database and one Redis: whatever
replica a customer's widget and an agent's console happen to be connected to, each sees the other
live, and the agent's presence and the dashboard's "agents online" count every replica."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

import handoff
from hub.operations import add_user
from tests.hub.test_admin_pages import form, logged_in
from tests.support import AgentClient, RunningHub, WidgetCustomer, hub_settings, pg_admin, start_hub, wait_for_status

pytestmark = pytest.mark.postgres

REDIS = "redis://127.0.0.1:6379/0"
ANA = ("ana@loja.test", "ana-password-1", "agent")
SARA = ("sara@loja.test", "sara-password-1", "supervisor")


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[tuple[RunningHub, RunningHub]]:
    """Hub A and hub B, as two replicas of one desk. No Rasa answers them, so a customer's first
    message is handed to a person (the bot-failure path) — what this story needs."""
    tmp = tmp_path_factory.mktemp("replicas")
    name = f"balcao_replicas_{uuid.uuid4().hex[:10]}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    shared = dict(
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}",
        redis_url=REDIS,
        redis_prefix=f"balcao-test-{uuid.uuid4().hex[:8]}",  # this desk's channel and keys only
        presence_grace_seconds=0.3,
        rasa_attempts=1,
    )
    a = start_hub(hub_settings(tmp, cache_dir=index_cache, **shared))
    b = start_hub(hub_settings(tmp, cache_dir=index_cache, **shared))
    for email, password, role in (ANA, SARA):
        teams = ["geral"] if role == "agent" else []
        asyncio.run(
            add_user(a.settings, email=email, name=email.split("@")[0].title(), role=role, teams=teams, password=password)
        )
    yield a, b
    a.stop()
    b.stop()
    asyncio.run(pg_admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture
async def ana(replicas: tuple[RunningHub, RunningHub]) -> AsyncIterator[httpx.AsyncClient]:
    """Ana, an agent of `geral`, logged in through hub A (her cookie works on either replica)."""
    agent = await AgentClient(replicas[0].url, ANA[0], ANA[1]).login()
    yield agent.http
    await agent.aclose()


@pytest.fixture
async def sara(replicas: tuple[RunningHub, RunningHub]) -> AsyncIterator[httpx.AsyncClient]:
    """Sara, a supervisor, logged in to hub A's dashboard."""
    supervisor = await AgentClient(replicas[0].url, SARA[0], SARA[1]).login()
    yield supervisor.http
    await supervisor.aclose()


def console_url(hub: RunningHub) -> str:
    return hub.url.replace("http", "ws") + "/api/agent/ws"


def cookie_of(client: httpx.AsyncClient) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in client.cookies.items())}


async def next_event(console: websockets.ClientConnection, wanted: Callable[[dict], bool], timeout_s: float = 15) -> dict:
    """The console's next event that ``wanted`` accepts."""
    deadline = time.monotonic() + timeout_s
    while True:
        event = json.loads(await asyncio.wait_for(console.recv(), max(0.1, deadline - time.monotonic())))
        if wanted(event):
            return event


async def test_a_customer_on_one_replica_and_an_agent_on_the_other_see_each_other_live(
    replicas: tuple[RunningHub, RunningHub], ana: httpx.AsyncClient
) -> None:
    a, b = replicas
    async with websockets.connect(console_url(a), additional_headers=cookie_of(ana)) as console:
        # The customer's widget is on hub B; the bot is down there, so B queues the chat for a person.
        customer = await WidgetCustomer(b.url).connect()
        await customer.say("Olá, o meu pedido chegou partido")
        queued = await next_event(console, lambda e: e.get("type") == "owner" and e.get("to_state") == "queued")
        conversation_id = queued["conversation_id"]
        assert queued["team_id"] == "geral"

        # Ana takes it on hub A: the customer on hub B is told at once, and gets her reply.
        assert (await ana.post(f"/api/agent/conversations/{conversation_id}/claim")).status_code == 200
        joined = await customer.wait_for(lambda f: f.get("type") == "state")
        assert (joined["state"], joined["agent_name"]) == ("human", "Ana")
        r = await ana.post(
            f"/api/agent/conversations/{conversation_id}/messages", json={"text": "Lamento! Envio já outro <b>novo</b>."}
        )
        assert r.status_code == 201
        reply = await customer.wait_for(lambda f: f.get("type") == "message" and f.get("sender") == "agent")
        assert reply["text"] == "Lamento! Envio já outro <b>novo</b>."

        # The customer answers on hub B; Ana's console on hub A shows it, and that they are typing.
        await customer.ws.send(json.dumps({"type": "typing"}))
        typing = await next_event(console, lambda e: e.get("type") == "typing")
        assert (typing["who"], typing["conversation_id"]) == ("customer", conversation_id)
        await customer.say("Obrigado, fico a aguardar")
        answer = await next_event(console, lambda e: e.get("type") == "message" and e.get("sender") == "customer")
        assert answer["text"] == "Obrigado, fico a aguardar"
        await customer.close()


async def agents_online(hub: RunningHub, supervisor: httpx.AsyncClient) -> int:
    r = await supervisor.get(f"{hub.url}/api/insights/live")
    r.raise_for_status()
    return r.json()["agents_online"]


async def test_an_agent_whose_console_moved_to_another_replica_stays_online(
    replicas: tuple[RunningHub, RunningHub], ana: httpx.AsyncClient, sara: httpx.AsyncClient
) -> None:
    a, b = replicas
    me = (await ana.get("/api/me")).json()

    async def status() -> str:
        async with a.app.state.desk.sessions() as session:
            return (await handoff.get_user(session, me["id"])).status

    async with websockets.connect(console_url(a), additional_headers=cookie_of(ana)) as on_a:
        assert a.call(status) == "online"
        # A reload lands on the other replica before the first console closes.
        async with websockets.connect(console_url(b), additional_headers=cookie_of(ana)):
            await on_a.close()
            await asyncio.sleep(1.0)  # well past the 0.3 s grace period of hub A
            assert a.call(status) == "online"
            # The supervisor's dashboard, served by hub A, counts Ana's console on hub B.
            assert await agents_online(a, sara) == 1
        # Her last console closed: after the grace period she is away, on every replica.
        await wait_for_status(lambda: a.call(status), "away")
        assert await agents_online(a, sara) == 0


async def test_logging_out_on_one_replica_closes_the_console_open_on_the_other(
    replicas: tuple[RunningHub, RunningHub], ana: httpx.AsyncClient
) -> None:
    a, b = replicas
    async with websockets.connect(console_url(b), additional_headers=cookie_of(ana)) as on_b:
        assert (await ana.post(f"{a.url}/api/auth/logout")).status_code == 204
        with pytest.raises(ConnectionClosed) as closed:
            await next_event(on_b, lambda event: False)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401  # the console goes to the login page


async def test_a_replica_told_to_use_an_unreachable_redis_says_so_at_start() -> None:
    from desk.realtime import RelayUnavailable, ReplicaRelay

    relay = ReplicaRelay("redis://127.0.0.1:1/0")
    with pytest.raises(RelayUnavailable, match=r"BALCAO_REDIS_URL=redis://127.0.0.1:1/0"):
        await relay.subscribe()
    await relay.redis.aclose()


async def test_the_company_s_words_changed_on_one_replica_reach_a_widget_on_the_other(
    replicas: tuple[RunningHub, RunningHub],
) -> None:
    a, b = replicas
    email, password = f"admin-{uuid.uuid4().hex[:6]}@loja.test", "admin-password-1"
    await add_user(a.settings, email=email, name="Alba", role="admin", teams=[], password=password)
    before = await WidgetCustomer(b.url, lang="en").connect()  # hub B now holds the words in its cache
    await before.close()
    assert "Loja Maré" in (before.history or {})["texts"]["greeting"]

    async with logged_in(a, email, password) as admin:
        fields = {"company_name": "Padaria Aurora", "languages": ["pt-BR", "pt-PT", "en"], "greeting_en": "Hello from {company}!"}
        r = await admin.post("/admin/settings", data=form(admin, **fields))
        assert r.status_code == 303

    after = await WidgetCustomer(b.url, lang="en").connect()
    await after.close()
    assert ((after.history or {})["texts"]["greeting"], (after.history or {})["company"]) == (
        "Hello from Padaria Aurora!",
        "Padaria Aurora",
    )


async def test_a_waiting_customer_who_moved_replica_is_kept_and_one_who_left_is_seen_leaving_on_every_replica(
    replicas: tuple[RunningHub, RunningHub], ana: httpx.AsyncClient
) -> None:
    a, b = replicas
    async with websockets.connect(console_url(a), additional_headers=cookie_of(ana)) as console:
        customer = await WidgetCustomer(a.url).connect()
        await customer.say("Preciso de ajuda com a minha encomenda")  # no bot: queued for a person
        queued = await next_event(console, lambda e: e.get("type") == "owner" and e.get("to_state") == "queued")
        conversation_id = queued["conversation_id"]

        # The page lost hub A and reconnected through the load balancer to hub B.
        await customer.close()
        moved = await WidgetCustomer(b.url, token=customer.token).connect()

        async def left_on(hub: RunningHub) -> object:
            return await hub.app.state.desk.bus.customer_left("widget", customer.customer_id)

        await wait_until_async(lambda: a.call(lambda: left_on(a)) is None, "hub A learning the customer is on hub B")
        a.settings.abandon_after_disconnect_seconds = b.settings.abandon_after_disconnect_seconds = 0
        try:
            # Hub A's sweep: the customer closed their page on A, but waits on B, so they stay in the queue.
            a.call(a.app.state.desk.endings.abandon_departed)

            async def state() -> str:
                async with a.app.state.desk.sessions() as session:
                    return (await handoff.get_conversation(session, conversation_id)).state

            assert a.call(state) == "queued"
            # They close the page on hub B: B's sweep finds them gone, and Ana's console on A sees them leave.
            await moved.close()
            await wait_until_async(lambda: b.call(lambda: left_on(b)) is not None, "hub B seeing the page closed")
            b.call(b.app.state.desk.endings.abandon_departed)
            gone = await next_event(console, lambda e: e.get("type") == "owner" and e.get("conversation_id") == conversation_id)
            assert (gone["from_state"], gone["to_state"]) == ("queued", "abandoned")
            assert a.call(state) == "abandoned"
        finally:
            a.settings.abandon_after_disconnect_seconds = b.settings.abandon_after_disconnect_seconds = 120


async def wait_until_async(check: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    """Poll ``check`` (it blocks on a hub's loop: run it in a thread) until it is true."""
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)
