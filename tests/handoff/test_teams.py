"""Teams are data (SQLite and PostgreSQL): created with their settings, refused with the reason
and nothing changed when the input is wrong; archived teams keep their history but hand their
queue, and every later chat, to the team chosen; a team is removed only while nothing names it;
a deactivated agent's chats go back to the queue."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import handoff
from handoff import Priority, Role, State


async def admin_and_agent(sessions: async_sessionmaker[AsyncSession]) -> tuple[handoff.User, handoff.User]:
    async with sessions() as session, session.begin():
        await handoff.ensure_default_teams(session)
        admin = await handoff.add_user(session, email="adm@loja.test", name="Adm", password="password-123", role=Role.ADMIN)
        agent = await handoff.add_user(session, email="ana@loja.test", name="Ana", password="password-123", teams=["geral"])
        return admin, agent


async def queued(sessions: async_sessionmaker[AsyncSession], team: str) -> str:
    async with sessions() as session, session.begin():
        chat = await handoff.start_conversation(session, channel="widget", customer_id="w-9", language="pt-BR")
        await handoff.escalate_conversation(session, chat.id, team_id=team, priority=Priority.REQUEST, reason="customer_request")
        return chat.id


async def test_a_team_is_created_with_its_settings_and_members(sessions: async_sessionmaker[AsyncSession]) -> None:
    admin, agent = await admin_and_agent(sessions)
    async with sessions() as session, session.begin():
        hours = {"mon": ["09:00", "17:00"]}
        await handoff.create_team(session, "vendas", name=" Vendas ", timezone="Europe/Lisbon", hours=hours, sla_seconds=30)
        await handoff.set_team_members(session, "vendas", [agent.id, admin.id])
    async with sessions() as session:
        team = await handoff.get_team(session, "vendas")
        assert (team.name, team.timezone, team.hours, team.sla_seconds, team.assignment) == (
            "Vendas", "Europe/Lisbon", hours, 30, "pick"
        )  # fmt: skip
        assert sorted((await handoff.team_members(session))["vendas"]) == sorted([agent.id, admin.id])
        assert "vendas" in await handoff.team_ids(session)


@pytest.mark.parametrize(
    ("team_id", "settings", "key"),
    [
        ("geral", {}, "team_exists"),
        ("Vendas SP", {}, "bad_team_id"),
        ("vendas", {"timezone": "America/Atlantida"}, "unknown_timezone"),
        ("vendas", {"hours": {"mon": ["18:00", "09:00"]}}, "opens_after_closing"),
        ("vendas", {"hours": {"dom": ["09:00", "12:00"]}}, "bad_day"),
        ("vendas", {"holidays": ["natal"]}, "bad_holiday"),
        ("vendas", {"sla_target": 1.5}, "bad_sla_target"),
        ("vendas", {"assignment": "roleta"}, "bad_assignment"),
        ("vendas", {"name": "  "}, "no_name"),
    ],
)
async def test_a_wrong_team_is_refused_with_the_reason(
    sessions: async_sessionmaker[AsyncSession], team_id: str, settings: dict, key: str
) -> None:
    await admin_and_agent(sessions)
    with pytest.raises(handoff.Refusal) as refused:
        async with sessions() as session, session.begin():
            await handoff.create_team(session, team_id, **{"name": "Vendas", **settings})
    assert refused.value.key == key
    async with sessions() as session:
        assert await handoff.team_ids(session) == ["financeiro", "geral", "logistica", "tecnico"]


async def test_archiving_hands_the_queue_and_later_chats_on(sessions: async_sessionmaker[AsyncSession]) -> None:
    admin, _ = await admin_and_agent(sessions)
    async with sessions() as session, session.begin():
        await handoff.create_team(session, "garantia", name="Garantia")
        await handoff.create_team(session, "trocas", name="Trocas")
    waiting = await queued(sessions, "garantia")
    with pytest.raises(handoff.TeamRefused, match="choose another active team"):
        async with sessions() as session, session.begin():
            await handoff.archive_team(session, "garantia", move_to="garantia", by=admin)
    async with sessions() as session, session.begin():
        _, moved = await handoff.archive_team(session, "garantia", move_to="trocas", by=admin)
    assert moved == [waiting]
    async with sessions() as session, session.begin():  # and the team that took it, later, into geral
        await handoff.archive_team(session, "trocas", move_to="geral", by=admin)
    later = await queued(sessions, "garantia")  # an article that still names the first team
    async with sessions() as session:
        assert (await handoff.get_conversation(session, waiting)).team_id == "geral"
        assert (await handoff.get_conversation(session, later)).team_id == "geral"
        assert "garantia" not in await handoff.team_ids(session)
        assert (await handoff.get_team(session, "garantia")).archived_at is not None  # kept for the history
    with pytest.raises(handoff.InvalidTransition, match="archived: choose an active team"):
        async with sessions() as session, session.begin():
            await handoff.transfer_conversation(session, later, admin, team_id="trocas")
    with pytest.raises(handoff.TeamRefused, match="archived already"):
        async with sessions() as session, session.begin():
            await handoff.archive_team(session, "garantia", move_to="geral", by=admin)


async def test_a_team_is_removed_only_while_nothing_names_it(sessions: async_sessionmaker[AsyncSession]) -> None:
    await admin_and_agent(sessions)
    with pytest.raises(handoff.TeamRefused, match=r"articles still hand customers to this team \(prazo, troca\)"):
        async with sessions() as session, session.begin():
            await handoff.delete_team(session, "logistica", articles=["prazo", "troca"])
    await queued(sessions, "financeiro")
    with pytest.raises(handoff.TeamRefused, match="archive it instead"):
        async with sessions() as session, session.begin():
            await handoff.delete_team(session, "financeiro")
    async with sessions() as session, session.begin():
        await handoff.create_team(session, "engano", name="Engano")
        await handoff.delete_team(session, "engano")
        await handoff.delete_team(session, "tecnico")  # a default team this desk does not want
    async with sessions() as session, session.begin():
        await handoff.ensure_default_teams(session)  # what every start runs: the teams are the admins' now
    async with sessions() as session:
        assert await handoff.team_ids(session) == ["financeiro", "geral", "logistica"]


async def test_a_deactivated_agents_chats_go_back_to_the_queue(sessions: async_sessionmaker[AsyncSession]) -> None:
    admin, agent = await admin_and_agent(sessions)
    chat = await queued(sessions, "geral")
    async with sessions() as session, session.begin():
        await handoff.claim_conversation(session, chat, agent)
    async with sessions() as session, session.begin():
        await handoff.deactivate_user(session, agent.id)
        assert await handoff.requeue_agent_chats(session, agent.id, by=admin) == [chat]
    async with sessions() as session:
        c = await handoff.get_conversation(session, chat)
        assert (c.state, c.agent_id, c.team_id) == (State.QUEUED, None, "geral")


async def test_a_display_name_is_trimmed_and_never_empty(sessions: async_sessionmaker[AsyncSession]) -> None:
    _, agent = await admin_and_agent(sessions)
    async with sessions() as session, session.begin():
        assert (await handoff.set_display_name(session, agent.id, "  Ana   Paula ")).name == "Ana Paula"
    with pytest.raises(handoff.InvalidName):
        async with sessions() as session, session.begin():
            await handoff.set_display_name(session, agent.id, " \n ")
