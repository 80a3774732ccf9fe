"""The per-conversation summaries the KPIs read are kept as the desk appends its rows; whatever
the history, they equal a recomputation from the events, messages and surveys (the truth)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from handoff.models import Conversation, Message, OwnershipEvent
from hub.db import make_engine, make_sessionmaker, run_migrations
from insights.models import ConversationHour, ConversationSummary, Survey
from insights.summaries import note_appended, rebuild_summaries
from tests.insights.streams import Stream

T0 = datetime(2026, 5, 4, 0, 0, tzinfo=UTC)
# What can happen to a conversation, as steps appended in order (each a few seconds to an hour apart).
STEPS = (
    "bot_answer",
    "bot_miss",
    "customer",
    "queue",
    "complaint",
    "pick",
    "agent_reply",
    "note",
    "transfer",
    "unassign",
    "abandon",
    "close",
    "survey",
    "end",
)

conversation = st.fixed_dictionaries(
    {
        "start": st.integers(0, 10 * 86400),
        "channel": st.sampled_from(["widget", "telegram"]),
        "customer": st.sampled_from(["c1", "c2", None]),
        "steps": st.lists(st.tuples(st.sampled_from(STEPS), st.integers(1, 3600)), max_size=10),
        "score": st.one_of(st.none(), st.integers(0, 10)),
        "team": st.sampled_from(["geral", "financeiro"]),
    }
)


def history(conversations: list[dict]) -> Stream:
    """Each conversation walks its steps, skipping those its state does not allow (as the desk refuses them)."""
    s = Stream(T0)
    for i, c in enumerate(conversations):
        # A customer has one conversation at a time on a channel: no two start at the same instant.
        cid, t, state, surveyed = f"c{i}", c["start"] + i / 1000, "bot", False
        s.start(cid, t, channel=c["channel"], customer=c["customer"])
        for step, gap in c["steps"]:
            t += gap
            if step in ("bot_answer", "bot_miss") and state == "bot":
                s.message(cid, t, "bot", kb="answer" if step == "bot_answer" else "miss")
            elif step == "customer":
                s.message(cid, t, "customer")
            elif step in ("queue", "complaint") and state in ("bot", "closing"):
                s.move(cid, t, state, "queued", team=c["team"], reason="complaint" if step == "complaint" else "customer_request")
                state = "queued"
            elif step == "transfer" and state in ("queued", "human"):
                s.move(cid, t, state, "queued", team="tecnico", reason="transfer")
                state = "queued"
            elif step == "pick" and state == "queued":
                s.move(cid, t, "queued", "human", agent=1 + i % 3)
                state = "human"
            elif step in ("agent_reply", "note") and state == "human":
                s.message(cid, t, "agent", internal=step == "note")
            elif step == "unassign" and state == "human":
                s.move(cid, t, "human", "queued", reason="unassigned")
                state = "queued"
            elif step == "abandon" and state == "queued":
                s.move(cid, t, "queued", "abandoned", reason="left")
                state = "abandoned"
            elif step == "close" and state in ("bot", "human"):
                s.move(cid, t, state, "closing", reason="resolved")
                state = "closing"
            elif step == "survey" and state == "closing" and not surveyed:
                s.survey(cid, t, ending="resolved", score=c["score"])
                surveyed = True
            elif step == "end" and state in ("bot", "closing"):
                s.move(cid, t, state, "ended", reason="survey_done")
                state = "ended"
    return s


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('summaries') / 'insights.db'}"
    run_migrations(url)
    return url


def _rows(summaries: list[ConversationSummary]) -> dict[str, dict]:
    columns = [c.key for c in ConversationSummary.__table__.columns]
    return {s.conversation_id: {k: getattr(s, k) for k in columns} for s in summaries}


def _same(kept: dict, recomputed: dict) -> bool:
    if kept.keys() != recomputed.keys():
        return False
    for key, value in kept.items():
        other = recomputed[key]
        if isinstance(value, float) or isinstance(other, float):
            # SQLite computes seconds through julianday(): equal to a millisecond.
            if value is None or other is None or abs(value - other) > 1e-3:
                return value is None and other is None
        elif isinstance(value, datetime) and isinstance(other, datetime):
            if value.replace(tzinfo=None) != other.replace(tzinfo=None):
                return False
        elif value != other:
            return False
    return True


async def _hours(sessions) -> dict[int, tuple[int, ...]]:
    """The hourly counts, hours with nothing counted left out (a rebuild writes no such row)."""
    async with sessions() as session:
        rows = (await session.execute(select(ConversationHour))).scalars()
        counted = {
            h.hour: (h.conversations, h.escalated, h.deflected, h.answered, h.promoters, h.passives, h.detractors) for h in rows
        }
    return {hour: counts for hour, counts in counted.items() if any(counts)}


async def _kept_and_recomputed(url: str, conversations: list[dict]) -> tuple[dict, dict]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine, listeners=[note_appended])
    try:
        async with sessions() as session, session.begin():
            for table in (ConversationHour, ConversationSummary, Survey, Message, OwnershipEvent, Conversation):
                await session.execute(delete(table))
            await history(conversations).save(session)
        async with sessions() as session:
            kept = _rows(list((await session.execute(select(ConversationSummary))).scalars()))
        kept_hours = await _hours(sessions)
        async with sessions() as session, session.begin():
            await rebuild_summaries(session)
        async with sessions() as session:
            recomputed = _rows(list((await session.execute(select(ConversationSummary))).scalars()))
        # The hourly counts moved with every change equal their sum over the rebuilt summaries.
        assert kept_hours == await _hours(sessions)
        assert sum(counts[0] for counts in kept_hours.values()) == len(conversations)
    finally:
        await engine.dispose()
    return kept, recomputed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(conversations=st.lists(conversation, max_size=12))
async def test_the_summaries_kept_while_appending_equal_a_recomputation_from_the_events(
    conversations: list[dict], db_url: str
) -> None:
    kept, recomputed = await _kept_and_recomputed(db_url, conversations)
    assert kept.keys() == recomputed.keys() == {f"c{i}" for i in range(len(conversations))}
    for cid in kept:
        differ = {k: (v, recomputed[cid][k]) for k, v in kept[cid].items() if not _same({k: v}, {k: recomputed[cid][k]})}
        assert not differ, (cid, differ)


@pytest.mark.postgres
async def test_a_long_history_on_both_databases(sessions) -> None:
    """One long generated history, also on PostgreSQL (its timestamp arithmetic differs from SQLite's)."""
    rng = random.Random(7)
    conversations = [
        {
            "start": i * 977,
            "channel": "widget",
            "customer": ("c1", "c2", None)[i % 3],
            "team": "geral",
            "score": i % 11,
            "steps": [(rng.choice(STEPS), rng.randrange(1, 900)) for _ in range(25)],
        }
        for i in range(60)
    ]
    url = sessions.kw["bind"].url.render_as_string(hide_password=False)
    kept, recomputed = await _kept_and_recomputed(url, conversations)
    assert len(kept) == 60 and any(r["picked"] for r in kept.values()) and any(r["resolved"] for r in kept.values())
    for cid in kept:
        assert _same(kept[cid], recomputed[cid]), (cid, kept[cid], recomputed[cid])


async def test_the_desks_own_steps_keep_the_summary(sessions) -> None:
    """A chat through handoff's and insights' own functions: its summary, kept step by step in the
    same transactions, is what a recomputation from the events gives."""
    import handoff
    import insights
    from handoff.models import Priority, Role

    async with sessions() as session, session.begin():
        await handoff.ensure_default_teams(session)
        ana = await handoff.add_user(
            session, email="ana@s.test", name="Ana", password="password-123", role=Role.AGENT, teams=["geral"]
        )
        first = await handoff.start_conversation(session, channel="telegram", customer_id="77", language="pt-BR")
        await handoff.record_message(session, first, sender="bot", text="…", data={"kb": "miss"})
        await handoff.escalate_conversation(session, first.id, team_id="geral", priority=Priority.REQUEST, reason="kb_unanswered")
    async with sessions() as session, session.begin():
        await handoff.claim_conversation(session, first.id, ana)
        await handoff.add_note(session, first.id, ana, "cliente antigo")
        await handoff.agent_reply(session, first.id, ana, "Olá! Vou verificar.")
        await handoff.close_conversation(session, first.id, ana)
        await insights.open_survey(
            session, first.id, channel="telegram", language="pt-BR", ending="agent_closed", team_id="geral", agent_id=ana.id
        )
        await insights.answer_survey(session, first.id, 4)
        await insights.record_reason(session, first.id, "demorou para responder")
        await handoff.end_conversation(session, first.id, actor="customer", reason="survey_done")
    async with sessions() as session, session.begin():
        await handoff.start_conversation(session, channel="telegram", customer_id="77", language="pt-BR")  # back again

    async with sessions() as session:
        kept = _rows(list((await session.execute(select(ConversationSummary))).scalars()))
    kept_hours = await _hours(sessions)
    async with sessions() as session, session.begin():
        await rebuild_summaries(session)
    async with sessions() as session:
        recomputed = _rows(list((await session.execute(select(ConversationSummary))).scalars()))
    assert kept_hours == await _hours(sessions)
    mine = kept[first.id]
    assert (mine["team_id"], mine["agent_id"], mine["kb_missed"], mine["score"], mine["resolved"], mine["picked"]) == (
        "geral",
        ana.id,
        1,
        4,
        1,
        1,
    )
    assert mine["reason"] == "demorou para responder"
    assert mine["first_reply_at"] is not None and mine["returned_after_s"] is not None  # the note is no reply; Ana's is
    for cid in kept:
        differ = {k: (v, recomputed[cid][k]) for k, v in kept[cid].items() if not _same({k: v}, {k: recomputed[cid][k]})}
        assert not differ, (cid, differ)
