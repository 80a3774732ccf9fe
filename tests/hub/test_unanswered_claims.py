"""Unanswered claims come back, through a real hub (SQLite, then PostgreSQL): the admin gives
`geral` one second to answer a claimed chat; a chat Ana takes and leaves unanswered goes back to
the head of the queue, its customer is told and Ana's console hears of it; a chat she answers in
time stays hers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import websockets

from desk.texts import say
from tests.support import AgentClient, RunningHub, WidgetCustomer, queueing_hub

ANA = ("ana@loja.test", "ana-password-1", "agent", ["geral"])
ADA = ("ada@loja.test", "ada-password-1", "admin", [])
RETURNED = say("claim_returned", "pt-BR")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def desk_hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    """A hub whose Rasa never answers (a customer's first message queues the chat for `geral`),
    sweeping every half second."""
    tmp = tmp_path_factory.mktemp(f"reclaim-{request.param}")
    with queueing_hub(request.param, tmp, cache_dir=index_cache, staff=(ANA, ADA), inactivity_check_seconds=0.5) as hub:
        yield hub


@pytest.fixture
async def ana(desk_hub: RunningHub) -> AsyncIterator[AgentClient]:
    """Ana, logged in, after Ada the admin gave `geral` one second to answer a claimed chat."""
    ada = await AgentClient(desk_hub.url, *ADA[:2]).login()
    try:
        changed = await ada.http.put("/api/admin/teams/geral", json={"claim_answer_seconds": 1})
        assert (changed.status_code, changed.json()["claim_answer_seconds"]) == (200, 1)
    finally:
        await ada.aclose()
    client = await AgentClient(desk_hub.url, *ANA[:2]).login()
    yield client
    await client.aclose()


async def queued_customer(hub: RunningHub, agent: AgentClient) -> tuple[WidgetCustomer, str]:
    """A customer who asked for help (the bot fails, so the chat is queued), still in the widget."""
    who = await WidgetCustomer(hub.url).connect()
    await who.say("oi, preciso de ajuda com meu pedido")
    chat = next(c for c in await agent.queue() if c["customer_id"] == who.customer_id)
    return who, chat["id"]


async def console_event(console: websockets.ClientConnection, wanted: Callable[[dict], bool], timeout_s: float = 60) -> dict:
    """The console's next event that ``wanted`` accepts."""
    deadline = time.monotonic() + timeout_s
    while True:
        event = json.loads(await asyncio.wait_for(console.recv(), max(0.1, deadline - time.monotonic())))
        if wanted(event):
            return event


def returned(chat: str) -> Callable[[dict], bool]:
    return lambda e: e.get("type") == "owner" and e.get("conversation_id") == chat and e.get("reason") == "claim_unanswered"


def open_console(hub: RunningHub, agent: AgentClient) -> websockets.connect:
    cookie = "; ".join(f"{k}={v}" for k, v in agent.http.cookies.items())
    return websockets.connect(
        hub.url.replace("http", "ws", 1) + "/api/agent/ws", additional_headers={"Cookie": cookie, "Origin": hub.url}, proxy=None
    )


async def test_an_unanswered_claim_goes_back_to_the_head_of_the_queue(desk_hub: RunningHub, ana: AgentClient) -> None:
    earlier, earlier_chat = await queued_customer(desk_hub, ana)
    customer, chat = await queued_customer(desk_hub, ana)
    async with open_console(desk_hub, ana) as console:
        claimed = await ana.claim(chat)
        assert claimed.status_code == 200
        # Ana says nothing: the chat comes back, and her console hears why and that it was hers.
        event = await console_event(console, returned(chat))
        assert (event["from_state"], event["to_state"], event["team_id"]) == ("human", "queued", "geral")
        assert event["previous_agent_id"] == claimed.json()["agent_id"] and event["agent_id"] is None
    told = await customer.wait_for(lambda f: f.get("type") == "message" and f.get("text") == RETURNED, timeout_s=60)
    assert told["sender"] == "system"
    waiting = [c["id"] for c in await ana.queue()]
    assert waiting.index(chat) < waiting.index(earlier_chat)  # at the head, before the chat queued earlier
    detail = await ana.detail(chat)
    assert (detail["conversation"]["state"], detail["conversation"]["agent_id"]) == ("queued", None)
    assert RETURNED in [m["text"] for m in detail["messages"]]  # in the conversation's history
    # Taken again and answered, it stays.
    assert (await ana.claim(chat)).status_code == 200
    assert (await ana.reply(chat, "Desculpe a demora, já vejo.")).status_code == 201
    await customer.close()
    await earlier.close()


async def test_a_reply_in_time_keeps_the_chat(desk_hub: RunningHub, ana: AgentClient) -> None:
    answered_customer, answered = await queued_customer(desk_hub, ana)
    silent_customer, silent = await queued_customer(desk_hub, ana)
    async with open_console(desk_hub, ana) as console:
        assert (await ana.claim(answered)).status_code == 200
        assert (await ana.reply(answered, "Oi! Já estou vendo o seu pedido.")).status_code == 201
        assert (await ana.claim(silent)).status_code == 200
        # The chat she took later and left unanswered comes back: the sweep has passed both deadlines.
        await console_event(console, returned(silent))
    kept = (await ana.detail(answered))["conversation"]
    assert (kept["state"], kept["team_id"]) == ("human", "geral") and kept["agent_id"] is not None
    assert RETURNED not in [m["text"] for m in (await ana.detail(answered))["messages"]]
    assert (await ana.close(answered)).status_code == 200
    await answered_customer.close()
    await silent_customer.close()
