"""Ownership changes: compare-and-set, so two agents never hold one chat."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import handoff
from handoff import Priority, Role, State
from handoff.models import OwnershipEvent


async def make_agents(sessions: async_sessionmaker[AsyncSession], count: int) -> list[handoff.User]:
    async with sessions() as session, session.begin():
        return [
            await handoff.add_user(
                session, email=f"agent{n}@loja.test", name=f"Agent {n}", password="password-123", role=Role.AGENT, teams=["geral"]
            )
            for n in range(count)
        ]


async def queued_chat(sessions: async_sessionmaker[AsyncSession]) -> str:
    async with sessions() as session, session.begin():
        conversation = await handoff.start_conversation(session, channel="widget", customer_id="w-cliente", language="pt-BR")
        await handoff.record_message(session, conversation, sender="customer", text="quero um atendente")
        await handoff.escalate_conversation(
            session, conversation.id, team_id="geral", priority=Priority.REQUEST, reason="customer_request"
        )
        return conversation.id


async def test_fifty_agents_claim_the_same_chat_and_exactly_one_wins(sessions: async_sessionmaker[AsyncSession]) -> None:
    agents = await make_agents(sessions, 50)
    conversation_id = await queued_chat(sessions)

    async def claim(agent: handoff.User) -> str:
        try:
            async with sessions() as session, session.begin():
                await handoff.claim_conversation(session, conversation_id, agent)
            return "won"
        except handoff.AlreadyClaimed:
            return "lost"

    outcomes = await asyncio.gather(*(claim(a) for a in agents))
    assert outcomes.count("won") == 1 and outcomes.count("lost") == 49
    async with sessions() as session:
        conversation = await handoff.get_conversation(session, conversation_id)
        winner = agents[outcomes.index("won")]
        assert (conversation.state, conversation.agent_id) == (State.HUMAN.value, winner.id)
        claims = (await session.execute(select(OwnershipEvent).where(OwnershipEvent.to_state == "human"))).scalars().all()
        assert [(e.actor, e.from_state) for e in claims] == [(f"agent:{winner.id}", "queued")]


async def test_the_lifecycle_records_every_change_and_refuses_impossible_ones(sessions: async_sessionmaker[AsyncSession]) -> None:
    ana, bia = await make_agents(sessions, 2)
    conversation_id = await queued_chat(sessions)
    async with sessions() as session, session.begin():
        await handoff.claim_conversation(session, conversation_id, ana)
    async with sessions() as session, session.begin():
        with pytest.raises(handoff.NotYourConversation):
            await handoff.agent_reply(session, conversation_id, bia, "posso ajudar?")
        with pytest.raises(handoff.NotYourConversation):
            await handoff.close_conversation(session, conversation_id, bia)
    async with sessions() as session, session.begin():
        await handoff.agent_reply(session, conversation_id, ana, "Oi, sou a Ana")
        await handoff.close_conversation(session, conversation_id, ana)
    async with sessions() as session, session.begin():
        with pytest.raises(handoff.InvalidTransition):
            await handoff.claim_conversation(session, conversation_id, bia)
        await handoff.end_conversation(session, conversation_id, actor="customer", reason="survey_done")
    async with sessions() as session:
        events = (await session.execute(select(OwnershipEvent).order_by(OwnershipEvent.id))).scalars().all()
        assert [(e.from_state, e.to_state) for e in events] == [
            ("bot", "queued"),
            ("queued", "human"),
            ("human", "closing"),
            ("closing", "ended"),
        ]
        assert [m.sender for m in await handoff.conversation_history(session, conversation_id)] == ["customer", "agent"]
        assert await handoff.find_open_conversation(session, channel="widget", customer_id="w-cliente") is None


async def test_a_message_delivered_twice_by_a_channel_is_stored_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        conversation = await handoff.start_conversation(session, channel="telegram", customer_id="t-1", language="pt-BR")
        await handoff.record_message(session, conversation, sender="customer", text="oi", channel_message_id="42")
        with pytest.raises(handoff.DuplicateMessage):
            await handoff.record_message(session, conversation, sender="customer", text="oi", channel_message_id="42")
        assert len(await handoff.conversation_history(session, conversation.id)) == 1


async def test_the_queue_serves_complaints_first_then_the_oldest(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        ids = []
        for n, (reason, priority) in enumerate(
            [
                ("kb_unanswered", Priority.LOW_CONFIDENCE),
                ("customer_request", Priority.REQUEST),
                ("complaint", Priority.COMPLAINT),
                ("customer_request", Priority.REQUEST),
            ]
        ):
            c = await handoff.start_conversation(session, channel="widget", customer_id=f"w-{n}", language="pt-BR")
            await handoff.escalate_conversation(session, c.id, team_id="geral", priority=priority, reason=reason)
            ids.append(c.id)
    async with sessions() as session:
        assert [c.id for c in await handoff.list_queue(session, ["geral"])] == [ids[2], ids[1], ids[3], ids[0]]
        assert await handoff.list_queue(session, ["financeiro"]) == []
