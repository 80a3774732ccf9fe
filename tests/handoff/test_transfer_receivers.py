"""Only an active agent who is a member of the target team may receive a transferred chat
(SQLite and PostgreSQL); anyone else is refused with the reason, and nothing changes."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import handoff
from handoff import Priority, Role


async def people(sessions: async_sessionmaker[AsyncSession]) -> dict[str, handoff.User]:
    async with sessions() as session, session.begin():
        await handoff.ensure_default_teams(session)
        who = {}
        for name, role, teams in (
            ("ana", Role.AGENT, ["geral"]),
            ("bia", Role.AGENT, ["geral"]),
            ("edu", Role.EDITOR, ["geral"]),
            ("bruno", Role.AGENT, ["financeiro"]),
            ("vera", Role.SUPERVISOR, ["geral"]),
            ("caio", Role.AGENT, ["geral"]),
        ):
            who[name] = await handoff.add_user(
                session, email=f"{name}@loja.test", name=name.title(), password="password-123", role=role, teams=teams
            )
        who["caio"].active = False
        return who


async def claimed(sessions: async_sessionmaker[AsyncSession], agent: handoff.User) -> str:
    async with sessions() as session, session.begin():
        c = await handoff.start_conversation(session, channel="widget", customer_id="w-1", language="pt-BR")
        await handoff.escalate_conversation(session, c.id, team_id="geral", priority=Priority.REQUEST, reason="customer_request")
        await handoff.claim_conversation(session, c.id, agent)
        return c.id


@pytest.mark.parametrize(
    ("receiver", "team", "why"),
    [
        ("edu", None, "Edu cannot receive this conversation: their role is editor, not agent"),
        ("bruno", None, "Bruno cannot receive this conversation: they are not a member of the team geral"),
        ("bia", "financeiro", "Bia cannot receive this conversation: they are not a member of the team financeiro"),
        ("caio", None, "Caio cannot receive this conversation: their account is deactivated"),
    ],
)
async def test_who_may_not_receive_a_chat_is_told_why(
    sessions: async_sessionmaker[AsyncSession], receiver: str, team: str | None, why: str
) -> None:
    who = await people(sessions)
    chat = await claimed(sessions, who["ana"])
    with pytest.raises(handoff.CannotReceiveTransfer, match=why):
        async with sessions() as session, session.begin():
            await handoff.transfer_conversation(session, chat, who["ana"], to_agent=who[receiver], team_id=team, note="para você")
    async with sessions() as session:
        c = await handoff.get_conversation(session, chat)
        assert (c.state, c.agent_id, c.team_id) == ("human", who["ana"].id, "geral")
        assert await handoff.conversation_history(session, chat) == []  # the note went with the refusal


async def test_agents_and_supervisors_of_the_team_receive_it(sessions: async_sessionmaker[AsyncSession]) -> None:
    who = await people(sessions)
    chat = await claimed(sessions, who["ana"])
    async with sessions() as session, session.begin():
        moved = await handoff.transfer_conversation(session, chat, who["ana"], to_agent=who["vera"])
        assert (moved.agent_id, moved.team_id) == (who["vera"].id, "geral")
        moved = await handoff.transfer_conversation(session, chat, who["vera"], to_agent=who["bruno"], team_id="financeiro")
        assert (moved.agent_id, moved.team_id) == (who["bruno"].id, "financeiro")
