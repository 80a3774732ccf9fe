"""Whatever the desk's history, the KPIs stay within their ranges and every table adds up."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from handoff.models import Conversation, Message, OwnershipEvent
from hub.db import make_engine, make_sessionmaker, run_migrations
from insights.kpis import Period, Report, compute_report
from insights.models import ConversationHour, ConversationSummary, Survey
from insights.summaries import note_appended
from tests.insights.streams import Stream

T0 = datetime(2026, 5, 4, 0, 0, tzinfo=UTC)
MAY = Period.of_days(date(2026, 5, 1), date(2026, 5, 31), "America/Sao_Paulo")
PATHS = ("bot_open", "bot_resolved", "waiting", "abandoned", "served", "served_open")

conversation = st.fixed_dictionaries(
    {
        "path": st.sampled_from(PATHS),
        "start": st.integers(0, 20 * 86400),
        "steps": st.lists(st.integers(1, 3600), min_size=4, max_size=4),
        "channel": st.sampled_from(["widget", "telegram", "whatsapp"]),
        "customer": st.sampled_from(["c1", "c2", "c3", None]),
        "team": st.sampled_from(["geral", "financeiro"]),
        "score": st.one_of(st.none(), st.integers(0, 10)),
        "kb": st.lists(st.sampled_from(["answer", "clarify", "miss"]), max_size=3),
    }
)


def stream_of(conversations: list[dict]) -> Stream:
    s = Stream(T0)
    for i, c in enumerate(conversations):
        cid, t = f"c{i}", c["start"]
        a, b, d, e = c["steps"]
        s.start(cid, t, channel=c["channel"], customer=c["customer"])
        for j, mark in enumerate(c["kb"]):
            s.message(cid, t + j + 1, "bot", kb=mark)
        if c["path"] == "bot_resolved":
            s.move(cid, t + a, "bot", "closing", reason="resolved").survey(cid, t + a, ending="resolved", score=c["score"])
        elif c["path"] != "bot_open":
            s.move(cid, t + a, "bot", "queued", team=c["team"], reason="customer_request")
            if c["path"] == "abandoned":
                s.move(cid, t + a + b, "queued", "abandoned")
            elif c["path"] in ("served", "served_open"):
                s.move(cid, t + a + b, "queued", "human", agent=1 + i % 3).message(cid, t + a + b + 1, "agent")
                if c["path"] == "served":
                    s.move(cid, t + a + b + d, "human", "closing")
                    s.survey(cid, t + a + b + d, ending="agent_closed", score=c["score"])
                    s.move(cid, t + a + b + d + e, "closing", "ended")
    return s


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('invariants') / 'insights.db'}"
    run_migrations(url)
    return url


async def report_on(url: str, conversations: list[dict]) -> Report:
    """May's report on the database at ``url`` after it holds exactly ``conversations``."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine, listeners=[note_appended])
    try:
        async with sessions() as session, session.begin():
            for table in (ConversationHour, ConversationSummary, Survey, Message, OwnershipEvent, Conversation):
                await session.execute(delete(table))
            await stream_of(conversations).save(session)
        async with sessions() as session:
            return await compute_report(session, MAY)
    finally:
        await engine.dispose()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(conversations=st.lists(conversation, max_size=25))
async def test_kpis_stay_in_range_and_add_up(conversations: list[dict], db_url: str) -> None:
    r = await report_on(db_url, conversations)
    paths = [c["path"] for c in conversations]
    t = r.totals
    assert t.conversations == len(conversations) == t.bot_only + t.escalated
    assert t.escalated == t.picked_up + t.abandoned + paths.count("waiting")
    assert t.deflected == paths.count("bot_resolved") and t.abandoned == paths.count("abandoned")
    assert t.resolved == paths.count("bot_resolved") + paths.count("served")
    assert t.first_contact_resolved <= t.resolved and t.within_service_level <= t.picked_up
    for rate in r.rates.model_dump().values():
        assert rate is None or 0.0 <= rate <= 1.0
    n = r.nps
    assert n.score is None or -100.0 <= n.score <= 100.0
    assert n.promoters + n.passives + n.detractors == n.answered == sum(n.distribution) <= n.asked
    assert sum(map(sum, r.heatmap)) == sum(p.conversations for p in r.days) == t.conversations
    assert sum(g.conversations for g in r.channels) == t.conversations
    assert sum(g.conversations for g in r.teams) == t.escalated
    assert sum(g.asked for g in r.endings) == n.asked
    assert sum(a.handled for a in r.agents) == t.picked_up
    assert sum(r.wait_histogram) == t.picked_up
    for a in r.agents:
        assert a.occupancy is None or 0.0 <= a.occupancy <= 1.0
        assert a.load is None or a.load >= 1.0 - 1e-9
