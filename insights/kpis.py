"""Service KPIs for a date range, computed from appended rows only: ownership events, messages and
surveys (plus each conversation's immutable facts: when it started, channel, language, customer).

insights reads handoff's tables and never writes them. Each conversation's appended rows are folded
into one summary row as they are appended (``insights.summaries``, checked against a recomputation
from the events), and every KPI is an aggregate over the summaries of the period's conversations,
so the totals of every table add up to the same conversations. Definitions (also on the dashboard):

- escalated: handed to a team's queue at least once ("with a person"); otherwise "bot only".
- abandoned: left while queued (an event to ``abandoned``); picked up: claimed and not abandoned.
- resolved: reached the ending (closing, or ended) and not abandoned; deflected: resolved, never escalated.
- wait: first escalation → first pick-up; first response: first escalation → first agent message
  (private notes are not responses); handling: first pick-up → ending; resolution: start → ending.
- service level: picked up within the target of the conversation's team (``Team.sla_seconds``; the
  global ``service_level_seconds`` for a team without one) ÷ (picked up + abandoned).
- first-contact resolution: resolved, and the same customer on the same channel did not start their
  next conversation within ``fcr_days`` of the ending (any subject: we do not know subjects).
- unanswered-question rate: questions the knowledge base could not answer with confidence (it offered
  choices or had nothing) ÷ questions it was asked (the bot marks each answer, choice and miss on its
  message); the numerator counts the same turns the editor's unanswered questions keep.
- NPS: % promoters (9–10) − % detractors (0–6) over answered surveys; response rate: answered ÷ asked.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from sqlalchemy import func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.sql.selectable import Subquery

from core.models import aware
from handoff.models import User
from insights.agents import agent_rows
from insights.facts import counts, extra_counts, facts, hours, p90s, team_targets
from insights.period import Filters, InvalidPeriod, Period, Targets
from insights.ratios import average, nps_score, percentile, share
from insights.report import (
    WEEKDAYS,
    AgentRow,
    Complaint,
    DayPoint,
    Durations,
    Group,
    Nps,
    Rates,
    Report,
    Theme,
    Totals,
)
from insights.sql import dialect_name
from insights.summaries import SCORE_COUNTS, WAIT_BUCKETS, WAIT_COUNTS
from insights.themes import top_words

# Re-exported: the report's parts, its period and filters, and the arithmetic were defined here first.
__all__ = [
    "WAIT_BUCKETS",
    "WEEKDAYS",
    "AgentRow",
    "Complaint",
    "DayPoint",
    "Durations",
    "Filters",
    "Group",
    "InvalidPeriod",
    "Nps",
    "Period",
    "Rates",
    "Report",
    "Targets",
    "Theme",
    "Totals",
    "compute_report",
    "nps_score",
    "percentile",
    "share",
    "team_targets",
]

# The score at most of a detractor, inlined (not a bound parameter) so that the databases match the
# partial index on detractors' reasons (ix_conversation_summaries_detractors) in every plan, cached ones too.
DETRACTOR_MAX: ColumnClause[int] = literal_column("6")
THEME_REASONS = 5000  # the distinct reasons the themes are counted over: the most written, then the newest


async def compute_report(
    session: AsyncSession, period: Period, filters: Filters = Filters(), *, targets: Targets = Targets()
) -> Report:
    """Every KPI of the dashboard for conversations started in ``period`` that match ``filters``."""
    if dialect_name(session) == "postgresql":
        # A report is a dozen short queries; PostgreSQL's JIT compiler would spend more time
        # compiling them (half a second at 1M conversations) than running them.
        await session.execute(text("SET LOCAL jit = off"))
    f = facts(period, filters, targets, await team_targets(session))
    return await _report(session, f, period, filters)


async def _report(session: AsyncSession, f: Subquery, period: Period, filters: Filters) -> Report:
    """The report of the conversations ``f``: a few queries, each table a sum over their groups."""
    hourly, rolled_up = await hours(session, f, period, filters)
    days, heatmap, extra = _series(hourly, rolled_up)
    cube_sums, by = await _cube(session, f, rolled_up)
    sums = cube_sums + extra
    totals = _totals(sums)
    nps = _nps(sums)
    rates = _rates(totals, nps)
    durations = _durations(sums, await p90s(session, f))
    complaints = await _complaints(session, f)
    reasons = await _detractor_reasons(session, f)
    return Report(
        start=period.start,
        end=period.end,
        timezone=period.tz,
        filters={k: v for k, v in filters.__dict__.items() if v is not None},
        totals=totals,
        rates=rates,
        nps=nps,
        durations=durations,
        days=_day_points(days),
        heatmap=heatmap,
        wait_histogram=[int(sums[name]) for name in WAIT_COUNTS],
        channels=_groups(by["channel"]),
        teams=_groups(by["team_id"]),
        agents=await agent_rows(session, f, ZoneInfo(period.tz), by["agent_id"]),
        endings=_groups(by["ending"]),
        complaints=complaints,
        detractor_themes=[Theme(word=w, count=n) for w, n in top_words(reasons, limit=15)],
    )


def _series(hourly: list[tuple[datetime, dict]], rolled_up: bool) -> tuple[dict[date, Counter], list[list[int]], Counter]:
    """From the counts per local hour: the daily series, the heatmap (weekday × hour), and the
    answers per score and waits per bucket when the hours hold them."""
    days: dict[date, Counter] = defaultdict(Counter)
    heatmap = [[0] * 24 for _ in range(7)]
    extra: Counter = Counter()
    for local, hour in hourly:
        heatmap[local.weekday()][local.hour] += hour["conversations"]
        for name, value in hour.items():
            days[local.date()][name] += value or 0
        if rolled_up:
            extra.update({name: hour[name] for name in (*SCORE_COUNTS, *WAIT_COUNTS)})
    return days, heatmap, extra


async def _cube(session: AsyncSession, f: Subquery, rolled_up: bool) -> tuple[Counter, dict[str, dict]]:
    """One query grouped by channel × team × agent × ending; returns the sums over everything and
    the sums per value of each of the four (everything else is a sum over those groups, in Python)."""
    keys = (f.c.channel, f.c.team_id, f.c.agent_id, f.c.ending)
    # The score and wait counts are wanted for the whole period only: from the hours when they
    # hold them (19 aggregates fewer over every summary of the period), else from the groups.
    measures = counts(f) if rolled_up else [*counts(f), *extra_counts(f)]
    names = [m.name for m in measures]
    cube = (await session.execute(select(*keys, *measures).group_by(*keys))).all()
    # Sums per dimension value, as plain lists (a few hundred groups, a few dozen measures each).
    zero = [0] * len(names)
    total = list(zero)
    per_key: list[dict] = [{}, {}, {}, {}]
    for row in cube:
        values = [v or 0 for v in row[len(keys) :]]
        total = [a + b for a, b in zip(total, values)]
        for i, groups in enumerate(per_key):
            acc = groups.get(row[i], zero)
            groups[row[i]] = [a + b for a, b in zip(acc, values)]
    by = {
        dimension: {key: dict(zip(names, acc)) for key, acc in groups.items()}
        for dimension, groups in zip(("channel", "team_id", "agent_id", "ending"), per_key)
    }
    return Counter(dict(zip(names, total))), by


def _totals(sums: Counter) -> Totals:
    totals = Totals()
    for name in Totals.model_fields:
        if name != "bot_only":
            setattr(totals, name, int(sums[name]))
    totals.bot_only = totals.conversations - totals.escalated
    return totals


def _nps(sums: Counter) -> Nps:
    answered = int(sums["answered"])
    return Nps(
        asked=int(sums["asked"]),
        answered=answered,
        promoters=int(sums["promoters"]),
        passives=int(sums["passives"]),
        detractors=int(sums["detractors"]),
        score=nps_score(sums["promoters"], sums["detractors"], answered),
        distribution=[int(sums[name]) for name in SCORE_COUNTS],
    )


def _rates(totals: Totals, nps: Nps) -> Rates:
    return Rates(
        escalation=share(totals.escalated, totals.conversations),
        deflection=share(totals.deflected, totals.conversations),
        abandonment=share(totals.abandoned, totals.escalated),
        service_level=share(totals.within_service_level, totals.picked_up + totals.abandoned),
        first_contact_resolution=share(totals.first_contact_resolved, totals.resolved),
        unanswered_questions=share(totals.kb_unanswered, totals.kb_questions),
        survey_response=share(nps.answered, nps.asked),
    )


def _durations(sums: Counter, p90: dict[str, float | None]) -> Durations:
    return Durations(
        wait_avg=average(sums["wait_sum"], sums["wait_n"]),
        wait_p90=p90["wait"],
        first_response_avg=average(sums["frt_sum"], sums["frt_n"]),
        first_response_p90=p90["first_response"],
        handling_avg=average(sums["handle_sum"], sums["handle_n"]),
        resolution_avg=average(sums["resolution_sum"], sums["resolution_n"]),
        resolution_p90=p90["resolution"],
    )


def _day_points(days: dict[date, Counter]) -> list[DayPoint]:
    return [
        DayPoint(
            day=day,
            conversations=int(c["conversations"]),
            escalated=int(c["escalated"]),
            deflected=int(c["deflected"]),
            promoters=int(c["promoters"]),
            passives=int(c["passives"]),
            detractors=int(c["detractors"]),
            nps=nps_score(c["promoters"], c["detractors"], c["answered"]),
        )
        for day, c in sorted(days.items())
    ]


async def _complaints(session: AsyncSession, f: Subquery) -> list[Complaint]:
    """The period's latest 200 complaints, newest first."""
    rows = await session.execute(
        select(
            f.c.id,
            f.c.created_at,
            f.c.channel,
            f.c.team_id,
            f.c.agent_id,
            User.name.label("agent_name"),
            f.c.abandoned,
            f.c.resolved,
            f.c.picked,
            f.c.score,
        )
        .outerjoin(User, User.id == f.c.agent_id)
        .where(f.c.complaint == 1)
        .order_by(f.c.created_at.desc())
        .limit(200)
    )
    return [
        Complaint(
            conversation_id=r.id,
            started_at=aware(r.created_at),
            channel=r.channel,
            team_id=r.team_id,
            agent_id=r.agent_id,
            agent_name=r.agent_name,
            outcome="abandoned" if r.abandoned else "resolved" if r.resolved else "with an agent" if r.picked else "waiting",
            score=r.score,
        )
        for r in rows.all()
    ]


async def _detractor_reasons(session: AsyncSession, f: Subquery) -> dict[str, int]:
    """The detractors' reasons, counted per distinct text, so each is sent and folded into words once."""
    return dict(
        (
            await session.execute(
                select(f.c.reason, func.count().label("n"))
                .where(f.c.score <= DETRACTOR_MAX, f.c.reason.is_not(None))
                .group_by(f.c.reason)
                .order_by(func.count().desc(), func.max(f.c.created_at).desc())
                .limit(THEME_REASONS)
            )
        ).all()
    )


def _group(key: str, row: SimpleNamespace) -> Group:
    return Group(
        key=key,
        conversations=row.conversations,
        escalated=row.escalated,
        deflected=row.deflected,
        picked_up=row.picked_up,
        abandoned=row.abandoned,
        within_service_level=row.within_service_level,
        wait_avg=average(row.wait_sum, row.wait_n),
        handling_avg=average(row.handle_sum, row.handle_n),
        asked=row.asked,
        answered=row.answered,
        promoters=row.promoters,
        passives=row.passives,
        detractors=row.detractors,
        nps=nps_score(row.promoters, row.detractors, row.answered),
    )


def _groups(groups: dict) -> list[Group]:
    """Table rows from the per-key sums, largest first (conversations without the key left out)."""
    rows = [_group(str(key), SimpleNamespace(**counts)) for key, counts in groups.items() if key is not None]
    return sorted(rows, key=lambda g: -g.conversations)
