"""A claimed chat its agent leaves unanswered past the team's time goes back to the head of the
queue: once, whichever of several sweeps (hub replicas) gets there first; a reply keeps it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import handoff
from core.models import utcnow
from handoff import Priority, Role, State
from handoff.models import OwnershipEvent


async def setup(sessions: async_sessionmaker[AsyncSession], *, seconds: int | None) -> tuple[handoff.User, list[str]]:
    """Ana of `geral` (whose claimed chats must be answered within ``seconds``) and two queued chats."""
    async with sessions() as session, session.begin():
        await handoff.create_team(session, "geral", name="Geral", claim_answer_seconds=seconds)
        ana = await handoff.add_user(
            session, email="ana@loja.test", name="Ana", password="password-123", role=Role.AGENT, teams=["geral"]
        )
        chats = []
        for n in range(2):
            conversation = await handoff.start_conversation(session, channel="widget", customer_id=f"w-{n}", language="pt-BR")
            await handoff.record_message(session, conversation, sender="customer", text="quero um atendente")
            await handoff.escalate_conversation(
                session, conversation.id, team_id="geral", priority=Priority.REQUEST, reason="customer_request"
            )
            chats.append(conversation.id)
        return ana, chats


async def test_an_unanswered_claim_returns_to_the_head_of_the_queue_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    ana, (first, second) = await setup(sessions, seconds=60)
    async with sessions() as session, session.begin():
        await handoff.claim_conversation(session, second, ana)  # the later chat: it will come back ahead of the first
    async with sessions() as session:
        assert await handoff.unanswered_claims(session, now=utcnow() + timedelta(seconds=30)) == []
        assert await handoff.unanswered_claims(session, now=utcnow() + timedelta(seconds=61)) == [second]

    async def sweep() -> str:
        try:
            async with sessions() as session, session.begin():
                await handoff.return_unanswered_claim(session, second, now=utcnow() + timedelta(seconds=61))
            return "returned"
        except handoff.InvalidTransition:
            return "left"

    outcomes = await asyncio.gather(*(sweep() for _ in range(5)))
    assert outcomes.count("returned") == 1
    async with sessions() as session:
        assert [c.id for c in await handoff.list_queue(session, ["geral"])] == [second, first]
        returned = await handoff.get_conversation(session, second)
        assert (returned.state, returned.agent_id) == (State.QUEUED, None)
        events = (await session.execute(select(OwnershipEvent).where(OwnershipEvent.reason == "claim_unanswered"))).scalars()
        assert [(e.conversation_id, e.actor, e.from_state, e.to_state) for e in events] == [(second, "system", "human", "queued")]


async def test_a_reply_in_time_keeps_the_chat_with_its_agent(sessions: async_sessionmaker[AsyncSession]) -> None:
    ana, (chat, later) = await setup(sessions, seconds=60)
    async with sessions() as session, session.begin():
        await handoff.claim_conversation(session, chat, ana)
        await handoff.add_note(session, chat, ana, "a private note is not an answer")
    async with sessions() as session:
        assert await handoff.unanswered_claims(session, now=utcnow() + timedelta(seconds=61)) == [chat]
    async with sessions() as session, session.begin():
        await handoff.agent_reply(session, chat, ana, "Oi! Já vejo o seu pedido.")
    async with sessions() as session, session.begin():
        await handoff.claim_conversation(session, later, ana)  # another chat taken after the reply
    async with sessions() as session, session.begin():
        assert await handoff.unanswered_claims(session, now=utcnow() + timedelta(hours=5)) == [later]
        with pytest.raises(handoff.InvalidTransition, match="was answered"):
            await handoff.return_unanswered_claim(session, chat, now=utcnow() + timedelta(hours=5))
    async with sessions() as session:
        kept = await handoff.get_conversation(session, chat)
        assert (kept.state, kept.agent_id) == (State.HUMAN, ana.id)


async def test_a_team_without_the_setting_never_returns_claims(sessions: async_sessionmaker[AsyncSession]) -> None:
    ana, (chat, _) = await setup(sessions, seconds=None)
    async with sessions() as session, session.begin():
        await handoff.claim_conversation(session, chat, ana)
    async with sessions() as session:
        assert await handoff.unanswered_claims(session, now=utcnow() + timedelta(days=3)) == []


async def test_a_negative_time_is_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        await handoff.create_team(session, "geral", name="Geral", claim_answer_seconds=30)
        with pytest.raises(handoff.TeamRefused, match="0 for never"):
            await handoff.update_team(session, "geral", claim_answer_seconds=-5)
