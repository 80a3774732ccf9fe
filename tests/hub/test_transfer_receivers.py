"""Who may receive a transferred chat, through the console's transfer route of a real hub (SQLite,
then PostgreSQL): only an active agent who is a member of the target team; anyone else is refused
with a sentence that says why, and the chat stays where it was."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

import handoff
from tests.support import (
    AgentClient,
    RunningHub,
    WidgetCustomer,
    queueing_hub,
)

ANA = ("ana@loja.test", "ana-password-1", "agent", ["geral"])
BIA = ("bia@loja.test", "bia-password-1", "agent", ["geral"])
EDU = ("edu@loja.test", "edu-password-1", "editor", ["geral"])
BRUNO = ("bruno@loja.test", "bruno-password-1", "agent", ["financeiro"])
VERA = ("vera@loja.test", "vera-password-1", "supervisor", [])


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def desk_hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    """A hub whose Rasa never answers: every customer's first message queues the chat for `geral`."""
    tmp = tmp_path_factory.mktemp(f"transfer-{request.param}")
    with queueing_hub(request.param, tmp, cache_dir=index_cache, staff=(ANA, BIA, EDU, BRUNO, VERA)) as hub:
        yield hub


@pytest.fixture
async def ana(desk_hub: RunningHub) -> AsyncIterator[AgentClient]:
    client = await AgentClient(desk_hub.url, *ANA[:2]).login()
    yield client
    await client.aclose()


def user_id(hub: RunningHub, email: str) -> int:
    async def read() -> int:
        async with hub.app.state.desk.sessions() as session:
            return (await session.execute(select(handoff.User.id).where(handoff.User.email == email))).scalar_one()

    return hub.call(read)


async def claimed_chat(hub: RunningHub, agent: AgentClient) -> str:
    """A customer writes, the bot fails, the chat is queued for `geral`, and Ana takes it."""
    who = await WidgetCustomer(hub.url).connect()
    await who.say("oi, preciso de ajuda")
    await who.close()
    chat = next(c for c in await agent.queue() if c["customer_id"] == who.customer_id)
    assert (await agent.claim(chat["id"])).status_code == 200
    return chat["id"]


async def transfer(agent: AgentClient, chat: str, **body: object) -> httpx.Response:
    return await agent.http.post(f"/api/agent/conversations/{chat}/transfer", json=body)


@pytest.mark.parametrize(
    ("receiver", "team", "why"),
    [
        (EDU, None, "their role is editor, not agent"),
        (BRUNO, None, "they are not a member of the team geral"),
        (BIA, "financeiro", "they are not a member of the team financeiro"),
        (VERA, None, "they are not a member of the team geral"),
    ],
)
async def test_only_an_agent_of_the_target_team_may_receive_a_chat(
    desk_hub: RunningHub, ana: AgentClient, receiver: tuple, team: str | None, why: str
) -> None:
    chat = await claimed_chat(desk_hub, ana)
    body: dict[str, object] = {"agent_id": user_id(desk_hub, receiver[0])}
    if team:
        body["team_id"] = team
    refused = await transfer(ana, chat, **body)
    assert refused.status_code == 409
    assert why in refused.json()["detail"] and "choose an active agent of the team" in refused.json()["detail"]
    still = (await ana.detail(chat))["conversation"]
    assert (still["state"], still["agent_id"], still["team_id"]) == ("human", user_id(desk_hub, ANA[0]), "geral")


async def test_an_agent_of_the_team_receives_the_chat(desk_hub: RunningHub, ana: AgentClient) -> None:
    chat = await claimed_chat(desk_hub, ana)
    moved = await transfer(ana, chat, agent_id=user_id(desk_hub, BIA[0]), note="cliente quer falar de troca")
    assert moved.status_code == 200
    assert (moved.json()["state"], moved.json()["agent_id"]) == ("human", user_id(desk_hub, BIA[0]))
    # To billing's agent, with billing as the team: allowed.
    bia = await AgentClient(desk_hub.url, *BIA[:2]).login()
    try:
        to_billing = await transfer(bia, chat, agent_id=user_id(desk_hub, BRUNO[0]), team_id="financeiro")
        assert to_billing.status_code == 200
        assert (to_billing.json()["agent_id"], to_billing.json()["team_id"]) == (user_id(desk_hub, BRUNO[0]), "financeiro")
    finally:
        await bia.aclose()
