"""Automatic assignment, queue places and the estimated wait."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import handoff
from handoff import Priority, Role


async def setup_team(sessions: async_sessionmaker[AsyncSession], *, agents: int, mode: str = "auto") -> list[handoff.User]:
    async with sessions() as session, session.begin():
        await handoff.ensure_default_teams(session)
        await handoff.update_team(session, "geral", always_open=True, assignment=mode)
        users = []
        for n in range(agents):
            user = await handoff.add_user(
                session, email=f"a{n}@loja.test", name=f"Agente {n}", password="password-123", role=Role.AGENT, teams=["geral"]
            )
            user.capacity = 2
            users.append(user)
        return users


async def escalate(sessions: async_sessionmaker[AsyncSession], customer: str, priority: Priority = Priority.REQUEST) -> str:
    async with sessions() as session, session.begin():
        c = await handoff.start_conversation(session, channel="widget", customer_id=customer, language="pt-BR")
        await handoff.escalate_conversation(session, c.id, team_id="geral", priority=priority, reason="customer_request")
        return c.id


async def go_online(sessions: async_sessionmaker[AsyncSession], *users: handoff.User) -> None:
    async with sessions() as session, session.begin():
        for user in users:
            await handoff.set_agent_status(session, await handoff.get_user(session, user.id), "online")


async def assign(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as session, session.begin():
        return {c.id: c.agent_id for c in await handoff.assign_waiting(session, "geral")}


async def test_chats_go_to_the_least_loaded_online_agent_in_turn_and_never_past_capacity(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ana, bia, _caio = await setup_team(sessions, agents=3)
    await go_online(sessions, ana, bia)  # Caio is offline: he gets nothing
    chats = [await escalate(sessions, f"w-{n}") for n in range(5)]
    assigned = await assign(sessions)
    owners = [assigned.get(c) for c in chats]
    assert owners[:4] == [ana.id, bia.id, ana.id, bia.id]  # round robin among the least loaded
    assert owners[4] is None  # both are at capacity (2): the fifth waits
    async with sessions() as session:
        assert [c.id for c in await handoff.list_queue(session, ["geral"])] == [chats[4]]


async def test_a_team_that_picks_assigns_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    (ana,) = await setup_team(sessions, agents=1, mode="pick")
    await go_online(sessions, ana)
    await escalate(sessions, "w-1")
    assert await assign(sessions) == {}


async def test_the_customers_place_and_wait_follow_the_queue(sessions: async_sessionmaker[AsyncSession]) -> None:
    ana, bia = await setup_team(sessions, agents=2, mode="pick")
    first = await escalate(sessions, "w-1")
    second = await escalate(sessions, "w-2")
    complaint = await escalate(sessions, "w-3", Priority.COMPLAINT)
    async with sessions() as session:
        standings = {s.conversation_id: s for s in await handoff.queue_standings(session, "geral")}
    assert [standings[c].position for c in (complaint, first, second)] == [1, 2, 3]
    # No agent online and no history: 300 s per chat ahead.
    assert [standings[c].wait_seconds for c in (complaint, first, second)] == [300, 600, 900]

    await go_online(sessions, ana, bia)
    async with sessions() as session, session.begin():
        await handoff.claim_conversation(session, complaint, ana)
    async with sessions() as session:
        mine = await handoff.queue_standing(session, second)
    assert (mine.position, mine.wait_seconds) == (2, 300)  # two agents online now share the work


async def test_transfer_with_a_note_and_back_to_the_queue(sessions: async_sessionmaker[AsyncSession]) -> None:
    ana, bia = await setup_team(sessions, agents=2, mode="pick")
    chat = await escalate(sessions, "w-1")
    async with sessions() as session, session.begin():
        await handoff.claim_conversation(session, chat, ana)
        moved = await handoff.transfer_conversation(
            session, chat, ana, team_id="financeiro", note="cobrança em dobro, ver fatura"
        )
        assert (moved.state, moved.team_id, moved.agent_id) == ("queued", "financeiro", None)
    async with sessions() as session, session.begin():
        moved = await handoff.transfer_conversation(session, chat, ana, to_agent=bia, team_id="geral")  # Bia is in geral only
        assert (moved.state, moved.agent_id) == ("human", bia.id)
        with pytest.raises(handoff.NotYourConversation):
            await handoff.unassign_conversation(session, chat, ana)
        back = await handoff.unassign_conversation(session, chat, bia)
        assert (back.state, back.agent_id) == ("queued", None)
    async with sessions() as session:
        history = await handoff.conversation_history(session, chat)
        assert [(m.text, m.internal) for m in history] == [("cobrança em dobro, ver fatura", True)]
        assert await handoff.conversation_history(session, chat, include_notes=False) == []
