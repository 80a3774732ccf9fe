"""KPIs of a small desk history whose every number was worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handoff.models import Team, User
from insights.kpis import Filters, InvalidPeriod, Period, Report, Targets, compute_report
from tests.insights.streams import Stream

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday, 09:00 in São Paulo
TZ = "America/Sao_Paulo"
MARCH = Period.of_days(date(2026, 3, 1), date(2026, 3, 31), TZ)
MINUTE = 60


def monday_morning() -> Stream:
    """Six conversations: two the bot resolves, two agents resolve, one complaint abandoned in the
    queue, one still with the bot; one customer comes back two days later."""
    s = Stream(T0)
    s.rows += [
        User(id=1, email="ana@x.test", name="Ana", password_hash="-", role="agent"),
        User(id=2, email="bruno@x.test", name="Bruno", password_hash="-", role="agent"),
    ]
    # A: answered by the bot, closed after two minutes, a promoter — but Alice returns on Wednesday.
    s.start("A", 0, customer="alice").message("A", 5, "bot", kb="answer")
    s.move("A", 2 * MINUTE, "bot", "closing", reason="resolved").survey("A", 2 * MINUTE, ending="resolved", score=10)
    s.move("A", 3 * MINUTE, "closing", "ended", reason="survey_done")
    # B: asks for a person, waits 30 s for Ana, her first reply after 60 s, handled for 10 min; a detractor.
    s.start("B", 0).move("B", MINUTE, "bot", "queued", team="geral", reason="customer_request")
    s.move("B", 90, "queued", "human", agent=1).message("B", 2 * MINUTE, "agent")
    s.move("B", 90 + 600, "human", "closing", reason="resolved")
    s.survey("B", 690, ending="agent_closed", score=3, reason="A entrega atrasada, demais!")
    s.move("B", 720, "closing", "ended")
    # C: a complaint queued for billing at +5 min, abandoned at +15 min.
    s.start("C", 4 * MINUTE).move("C", 5 * MINUTE, "bot", "queued", team="financeiro", reason="complaint")
    s.move("C", 15 * MINUTE, "queued", "abandoned", reason="left")
    # D: the knowledge base misses twice, billing picks it up after 120 s, replies after 180 s; a passive.
    s.start("D", 0).message("D", 30, "bot", kb="miss").message("D", 60, "bot", kb="miss")
    s.move("D", 2 * MINUTE, "bot", "queued", team="financeiro", reason="kb_unanswered")
    s.move("D", 4 * MINUTE, "queued", "human", agent=2).message("D", 5 * MINUTE, "agent")
    s.move("D", 10 * MINUTE, "human", "closing").survey("D", 10 * MINUTE, ending="agent_closed", score=8)
    # E: on Telegram, still talking to the bot (offered choices once, one miss so far: both unanswered).
    s.start("E", 0, channel="telegram").message("E", 10, "bot", kb="clarify").message("E", 20, "bot", kb="miss")
    # F: Alice again on Wednesday; the bot resolves it; she never answers the survey.
    s.start("F", 2 * 86400, customer="alice").move("F", 2 * 86400 + 60, "bot", "closing", reason="goodbye")
    s.survey("F", 2 * 86400 + 60, ending="goodbye", score=None)
    return s


@pytest.fixture
async def march(sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    async with sessions() as session, session.begin():
        await monday_morning().save(session)
    return sessions


async def report(sessions: async_sessionmaker[AsyncSession], filters: Filters = Filters(), period: Period = MARCH) -> Report:
    async with sessions() as session:
        return await compute_report(session, period, filters, targets=Targets(service_level_seconds=60, fcr_days=7))


async def test_counts_and_rates_of_the_week(march: async_sessionmaker[AsyncSession]) -> None:
    r = await report(march)
    t = r.totals
    assert (t.conversations, t.bot_only, t.escalated) == (6, 3, 3)
    assert (t.deflected, t.picked_up, t.abandoned, t.resolved) == (2, 2, 1, 4)
    assert (t.first_contact_resolved, t.within_service_level, t.complaints) == (3, 1, 1)
    assert (t.kb_questions, t.kb_unanswered) == (5, 4)
    assert r.rates.escalation == pytest.approx(3 / 6)
    assert r.rates.deflection == pytest.approx(2 / 6)
    assert r.rates.abandonment == pytest.approx(1 / 3)
    assert r.rates.service_level == pytest.approx(1 / 3)  # B within 60 s; D (120 s) and C (abandoned) not
    assert r.rates.first_contact_resolution == pytest.approx(3 / 4)  # Alice came back after A
    assert r.rates.unanswered_questions == pytest.approx(4 / 5)


async def test_times_in_queue_to_first_reply_handling_and_resolution(march: async_sessionmaker[AsyncSession]) -> None:
    d = (await report(march)).durations
    assert d.wait_avg == pytest.approx(75) and d.wait_p90 == pytest.approx(30 + 0.9 * 90)
    assert d.first_response_avg == pytest.approx(120) and d.first_response_p90 == pytest.approx(60 + 0.9 * 120)
    assert d.handling_avg == pytest.approx((600 + 360) / 2)
    # A 120 s, B 690 s, D 600 s, F 60 s
    assert d.resolution_avg == pytest.approx((120 + 690 + 600 + 60) / 4)


async def test_nps_and_what_detractors_said(march: async_sessionmaker[AsyncSession]) -> None:
    r = await report(march)
    assert (r.nps.asked, r.nps.answered, r.nps.promoters, r.nps.passives, r.nps.detractors) == (4, 3, 1, 1, 1)
    assert r.nps.score == 0.0
    assert r.rates.survey_response == pytest.approx(3 / 4)
    assert r.nps.distribution == [0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1]
    assert [(t.word, t.count) for t in r.detractor_themes] == [("atrasada", 1), ("demais", 1), ("entrega", 1)]
    assert r.complaints[0].conversation_id == "C" and r.complaints[0].outcome == "abandoned"


async def test_volume_by_local_hour_weekday_and_day(march: async_sessionmaker[AsyncSession]) -> None:
    r = await report(march)
    assert r.heatmap[0][9] == 5 and r.heatmap[2][9] == 1 and sum(map(sum, r.heatmap)) == 6
    assert [(p.day, p.conversations, p.escalated, p.deflected) for p in r.days] == [
        (date(2026, 3, 2), 5, 3, 1),
        (date(2026, 3, 4), 1, 0, 1),
    ]
    assert r.wait_histogram == [0, 1, 0, 1, 0, 0, 0, 0]  # 30 s, 120 s


async def test_teams_agents_channels_and_endings(march: async_sessionmaker[AsyncSession]) -> None:
    r = await report(march)
    teams = {g.key: g for g in r.teams}
    assert (teams["financeiro"].escalated, teams["financeiro"].picked_up, teams["financeiro"].abandoned) == (2, 1, 1)
    assert (teams["geral"].conversations, teams["geral"].wait_avg, teams["geral"].nps) == (1, pytest.approx(30), -100.0)
    agents = {a.name: a for a in r.agents}
    assert (agents["Ana"].handled, agents["Ana"].handling_avg, agents["Ana"].first_response_avg) == (
        1,
        pytest.approx(600),
        pytest.approx(60),
    )
    assert (agents["Bruno"].handled, agents["Bruno"].nps) == (1, 0.0)  # a passive
    assert agents["Ana"].occupancy == pytest.approx(1.0) and agents["Ana"].load == pytest.approx(1.0)
    assert {g.key: g.conversations for g in r.channels} == {"widget": 5, "telegram": 1}
    assert {g.key: (g.asked, g.answered) for g in r.endings} == {"resolved": (1, 1), "agent_closed": (2, 2), "goodbye": (1, 0)}


async def test_filters_by_team_channel_agent_and_who_handled_it(march: async_sessionmaker[AsyncSession]) -> None:
    assert (await report(march, Filters(team_id="financeiro"))).totals.conversations == 2
    assert (await report(march, Filters(channel="telegram"))).totals.conversations == 1
    assert (await report(march, Filters(agent_id=1))).nps.detractors == 1
    bot = await report(march, Filters(handled_by="bot"))
    assert (bot.totals.conversations, bot.totals.deflected, bot.totals.escalated) == (3, 2, 0)
    person = await report(march, Filters(handled_by="person"))
    assert (person.totals.conversations, person.totals.bot_only) == (3, 0)
    only_wednesday = Period.of_days(date(2026, 3, 4), date(2026, 3, 4), TZ)
    assert (await report(march, period=only_wednesday)).totals.conversations == 1


async def test_service_level_counts_each_teams_own_pick_up_target(sessions: async_sessionmaker[AsyncSession]) -> None:
    # Billing promises 3 minutes, the general team 20 seconds; logistics has no row: the global 60 s.
    s = monday_morning()
    s.rows += [Team(id="geral", name="Geral", sla_seconds=20), Team(id="financeiro", name="Financeiro", sla_seconds=180)]
    s.start("G", 0).move("G", 60, "bot", "queued", team="logistica").move("G", 100, "queued", "human", agent=1)
    async with sessions() as session, session.begin():
        await s.save(session)
    r = await report(sessions)
    teams = {g.key: g.within_service_level for g in r.teams}
    assert teams == {"geral": 0, "financeiro": 1, "logistica": 1}  # B waited 30 s, D 120 s, G 40 s
    assert r.totals.within_service_level == 2 and r.rates.service_level == pytest.approx(2 / 4)


async def test_an_empty_period_has_no_rates_rather_than_zeros(march: async_sessionmaker[AsyncSession]) -> None:
    r = await report(march, period=Period.of_days(date(2025, 1, 1), date(2025, 1, 31), TZ))
    assert r.totals.conversations == 0 and r.nps.score is None and r.rates.escalation is None


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidPeriod):
        Period.of_days(date(2026, 3, 5), date(2026, 3, 1), TZ)
