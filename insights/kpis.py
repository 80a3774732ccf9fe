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
- unanswered-question rate: questions the knowledge base could not answer ÷ questions it was asked
  (the bot marks each answer, choice and miss on its message).
- NPS: % promoters (9–10) − % detractors (0–6) over answered surveys; response rate: answered ÷ asked.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy import Date, Float, Integer, and_, case, cast, func, literal, literal_column, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.sql.selectable import Subquery

from core.models import aware
from handoff.models import Team, User
from insights.models import ConversationHour, ConversationSummary
from insights.sql import dialect_name, hour_bucket
from insights.summaries import HOUR_COUNTS, SCORE_COUNTS, WAIT_BUCKETS, WAIT_COUNTS, wait_bucket_conditions
from insights.themes import top_words

# The score at most of a detractor, inlined (not a bound parameter) so that the databases match the
# partial index on detractors' reasons (ix_conversation_summaries_detractors) in every plan, cached ones too.
DETRACTOR_MAX: ColumnClause[int] = literal_column("6")
THEME_REASONS = 5000  # the distinct reasons the themes are counted over: the most written, then the newest
# Seconds per agent id; 0.0 for an agent with none.
_Seconds = defaultdict[int, float]
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class InvalidPeriod(ValueError):
    """The date range is empty or reversed."""


@dataclass(frozen=True)
class Filters:
    """Which conversations a report covers (``None`` means all)."""

    channel: str | None = None
    team_id: str | None = None
    agent_id: int | None = None
    language: str | None = None
    handled_by: Literal["bot", "person"] | None = None


@dataclass(frozen=True)
class Period:
    """Conversations started in ``[start, end)`` (aware UTC), reported in ``tz``."""

    start: datetime
    end: datetime
    tz: str = "UTC"

    @classmethod
    def of_days(cls, first: date, last: date, tz: str) -> Period:
        """The local days ``first`` to ``last``, both included."""
        if last < first:
            raise InvalidPeriod(f"the period ends ({last}) before it starts ({first})")
        zone = ZoneInfo(tz)
        start = datetime.combine(first, time(), zone).astimezone(UTC)
        end = datetime.combine(last + timedelta(days=1), time(), zone).astimezone(UTC)
        return cls(start, end, tz)


@dataclass(frozen=True)
class Targets:
    """What the KPIs are measured against (from settings)."""

    service_level_seconds: int = 60
    fcr_days: int = 7


# -- what a report holds (also the JSON API's schema) --------------------------------------------


class Totals(BaseModel):
    conversations: int = 0
    bot_only: int = 0
    escalated: int = 0
    deflected: int = 0
    picked_up: int = 0
    abandoned: int = 0
    resolved: int = 0
    first_contact_resolved: int = 0
    within_service_level: int = 0
    complaints: int = 0
    kb_questions: int = 0
    kb_unanswered: int = 0


class Rates(BaseModel):
    """Shares between 0 and 1; ``None`` when the denominator is zero."""

    escalation: float | None = None
    deflection: float | None = None
    abandonment: float | None = None
    service_level: float | None = None
    first_contact_resolution: float | None = None
    unanswered_questions: float | None = None
    survey_response: float | None = None


class Nps(BaseModel):
    asked: int = 0
    answered: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    score: float | None = Field(None, description="-100 to 100; None without answers")
    distribution: list[int] = Field(default_factory=lambda: [0] * 11, description="answers per score 0..10")


class Durations(BaseModel):
    """Seconds; ``None`` when nothing was measured."""

    wait_avg: float | None = None
    wait_p90: float | None = None
    first_response_avg: float | None = None
    first_response_p90: float | None = None
    handling_avg: float | None = None
    resolution_avg: float | None = None
    resolution_p90: float | None = None


class DayPoint(BaseModel):
    day: date
    conversations: int
    escalated: int
    deflected: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None


class Group(BaseModel):
    """One row of the per-channel / per-team / per-ending tables."""

    key: str
    conversations: int = 0
    escalated: int = 0
    deflected: int = 0
    picked_up: int = 0
    abandoned: int = 0
    within_service_level: int = 0
    wait_avg: float | None = None
    handling_avg: float | None = None
    asked: int = 0
    answered: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    nps: float | None = None


class AgentRow(BaseModel):
    agent_id: int
    name: str
    handled: int
    handling_avg: float | None
    handling_total: float
    first_response_avg: float | None
    answered: int
    nps: float | None
    load: float | None = Field(None, description="average chats at once while busy")
    occupancy: float | None = Field(None, description="busy ÷ working span (first pick-up to last ending of each day)")


class Complaint(BaseModel):
    conversation_id: str
    started_at: datetime
    channel: str
    team_id: str | None
    agent_id: int | None
    outcome: str
    score: int | None


class Theme(BaseModel):
    word: str
    count: int


class Report(BaseModel):
    """Everything the dashboard shows for a period and filters."""

    start: datetime
    end: datetime
    timezone: str
    filters: dict
    totals: Totals
    rates: Rates
    nps: Nps
    durations: Durations
    days: list[DayPoint]
    heatmap: list[list[int]] = Field(description="conversations per weekday (0 = Monday) and local hour")
    wait_histogram: list[int] = Field(description=f"picked-up waits per bucket, upper bounds {WAIT_BUCKETS} s, then more")
    channels: list[Group]
    teams: list[Group]
    agents: list[AgentRow]
    endings: list[Group]
    complaints: list[Complaint]
    detractor_themes: list[Theme]


# -- the conversations of a report ----------------------------------------------------------------


async def team_targets(session: AsyncSession) -> dict[str, int]:
    """Each team's own pick-up target in seconds (``Team.sla_seconds``)."""
    return {team: int(seconds) for team, seconds in (await session.execute(select(Team.id, Team.sla_seconds))).all() if seconds}


def _facts(period: Period, filters: Filters, targets: Targets, per_team: dict[str, int]) -> Subquery:
    """The summaries of the conversations started in the period that match the filters, with the
    two flags that depend on the targets (service level, first-contact resolution)."""
    s = ConversationSummary
    as_int = lambda cond: cast(case((cond, 1), else_=0), Integer)  # noqa: E731 - a one-line SQL shorthand
    # Each team's own target; the global one for teams without a target (or no longer in the table).
    target = (
        case(per_team, value=s.team_id, else_=targets.service_level_seconds)
        if per_team
        else literal(targets.service_level_seconds)
    )
    returned = s.returned_after_s <= targets.fcr_days * 86400
    facts = select(
        s.conversation_id.label("id"),
        s.channel,
        s.language,
        s.started_at.label("created_at"),
        s.team_id,
        s.agent_id,
        s.escalated,
        s.abandoned,
        s.picked,
        s.resolved,
        s.deflected,
        as_int(and_(s.resolved == 1, or_(s.returned_after_s.is_(None), ~returned))).label("fcr"),
        as_int(and_(s.picked == 1, s.wait_s <= target)).label("within_sl"),
        s.complaint,
        s.picked_at,
        s.resolved_at,
        s.wait_s,
        s.handle_s,
        s.first_response_s,
        s.resolution_s,
        s.kb_asked,
        s.kb_missed,
        s.surveyed,
        s.score,
        s.ending,
        s.reason,
    ).where(s.started_at >= period.start, s.started_at < period.end)
    for column, value in (
        (s.channel, filters.channel),
        (s.language, filters.language),
        (s.team_id, filters.team_id),
        (s.agent_id, filters.agent_id),
    ):
        if value is not None:
            facts = facts.where(column == value)
    if filters.handled_by == "bot":
        facts = facts.where(s.escalated == 0)
    elif filters.handled_by == "person":
        facts = facts.where(s.escalated == 1)
    return facts.subquery("f")


def _counts(f: Subquery) -> list:
    """The additive columns every grouping shares (sums, so groups add up to the totals)."""
    s = lambda col: func.coalesce(func.sum(col), 0)  # noqa: E731 - a one-line SQL shorthand
    answered = f.c.score.is_not(None)
    return [
        func.count().label("conversations"),
        s(f.c.escalated).label("escalated"),
        s(f.c.deflected).label("deflected"),
        s(f.c.picked).label("picked_up"),
        s(f.c.abandoned).label("abandoned"),
        s(f.c.resolved).label("resolved"),
        s(f.c.fcr).label("first_contact_resolved"),
        s(f.c.within_sl).label("within_service_level"),
        s(f.c.complaint).label("complaints"),
        s(f.c.kb_asked).label("kb_questions"),
        s(f.c.kb_missed).label("kb_unanswered"),
        s(f.c.surveyed).label("asked"),
        func.count(f.c.score).label("answered"),
        func.count().filter(and_(answered, f.c.score >= 9)).label("promoters"),
        func.count().filter(and_(answered, f.c.score.between(7, 8))).label("passives"),
        func.count().filter(and_(answered, f.c.score <= 6)).label("detractors"),
        s(f.c.wait_s).label("wait_sum"),
        func.count(f.c.wait_s).label("wait_n"),
        s(f.c.handle_s).label("handle_sum"),
        func.count(f.c.handle_s).label("handle_n"),
        s(f.c.first_response_s).label("frt_sum"),
        func.count(f.c.first_response_s).label("frt_n"),
        s(f.c.resolution_s).label("resolution_sum"),
        func.count(f.c.resolution_s).label("resolution_n"),
    ]


def nps_score(promoters: int, detractors: int, answered: int) -> float | None:
    """Net Promoter Score, -100 to 100 (``None`` without answers)."""
    return None if answered == 0 else round(100.0 * (promoters - detractors) / answered, 1)


def share(part: float, whole: float) -> float | None:
    """``part / whole`` (``None`` when ``whole`` is zero)."""
    return None if not whole else part / whole


def _avg(total: float, n: int) -> float | None:
    return None if not n else total / n


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0–1) by linear interpolation, as PostgreSQL's ``percentile_cont``."""
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    pos = (len(data) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return data[low] + (data[high] - data[low]) * (pos - low)


def _group(key: str, row: SimpleNamespace) -> Group:
    return Group(
        key=key,
        conversations=row.conversations,
        escalated=row.escalated,
        deflected=row.deflected,
        picked_up=row.picked_up,
        abandoned=row.abandoned,
        within_service_level=row.within_service_level,
        wait_avg=_avg(row.wait_sum, row.wait_n),
        handling_avg=_avg(row.handle_sum, row.handle_n),
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


def _hour_counts(f: Subquery) -> list:
    """What the daily series needs, per hour."""
    s = lambda col: func.coalesce(func.sum(col), 0)  # noqa: E731 - a one-line SQL shorthand
    return [
        func.count().label("conversations"),
        s(f.c.escalated).label("escalated"),
        s(f.c.deflected).label("deflected"),
        func.count(f.c.score).label("answered"),
        func.count().filter(f.c.score >= 9).label("promoters"),
        func.count().filter(f.c.score.between(7, 8)).label("passives"),
        func.count().filter(f.c.score <= 6).label("detractors"),
    ]


def _extra_counts(f: Subquery) -> list:
    """Answers per score and picked-up waits per bucket (for the distribution and the histogram).
    ``count(*) FILTER (WHERE …)`` rather than ``sum(CASE …)``: the same counts, a fifth of the cost."""
    s = lambda cond: func.count().filter(cond)  # noqa: E731 - a one-line SQL shorthand
    waits = [s(cond).label(name) for name, cond in zip(WAIT_COUNTS, wait_bucket_conditions(f.c.wait_s))]
    return [s(f.c.score == k).label(name) for k, name in enumerate(SCORE_COUNTS)] + waits


async def _percentiles(session: AsyncSession, f: Subquery) -> dict[str, float | None]:
    columns = {"wait": f.c.wait_s, "first_response": f.c.first_response_s, "resolution": f.c.resolution_s}
    if dialect_name(session) == "postgresql":
        row = (
            await session.execute(select(*(func.percentile_cont(0.9).within_group(col).label(k) for k, col in columns.items())))
        ).one()
        return {k: (float(v) if v is not None else None) for k, v in row._mapping.items()}
    rows = (await session.execute(select(*columns.values()).where(f.c.escalated + f.c.resolved > 0))).all()
    return {name: percentile([row[i] for row in rows], 0.9) for i, name in enumerate(columns)}


async def _hours(
    session: AsyncSession, f: Subquery, period: Period, filters: Filters
) -> tuple[list[tuple[datetime, dict]], bool]:
    """The counts of the daily series per hour that conversations started in, as (local start of
    the hour, counts), and whether they came from ``conversation_hours``: without filters, over
    whole UTC hours (any period of local days, in all but the few time zones with a half-hour
    offset), they are read from it — 24 rows a day, which also hold the answers per score and the
    waits per bucket; otherwise they are summed from the period's summaries."""
    zone = ZoneInfo(period.tz)
    start, end = period.start.timestamp(), period.end.timestamp()
    if filters == Filters() and start % 3600 == 0 and end % 3600 == 0:
        h = ConversationHour
        rows = await session.execute(
            select(h.hour, *(getattr(h, name) for name in HOUR_COUNTS)).where(
                h.hour >= int(start // 3600), h.hour < int(end // 3600)
            )
        )
        return [(datetime.fromtimestamp(hour * 3600, zone), dict(zip(HOUR_COUNTS, counts))) for hour, *counts in rows.all()], True
    rows = await session.execute(
        select(hour_bucket(f.c.created_at).label("key"), *_hour_counts(f)).group_by(literal_column("key"))
    )
    return [(_local_hour(row.key, zone), {k: v for k, v in row._mapping.items() if k != "key"}) for row in rows.all()], False


def _local_hour(bucket: str | datetime, zone: ZoneInfo) -> datetime:
    """An ``hour_bucket`` (``'YYYY-MM-DD HH'`` or a naive timestamp, in UTC) in local time."""
    if isinstance(bucket, datetime):
        return bucket.replace(tzinfo=UTC).astimezone(zone)
    utc = datetime(int(bucket[:4]), int(bucket[5:7]), int(bucket[8:10]), int(bucket[11:13]), tzinfo=UTC)
    return utc.astimezone(zone)


async def _agent_rows(session: AsyncSession, f: Subquery, zone: ZoneInfo, groups: dict) -> list[AgentRow]:
    rows = [SimpleNamespace(key=key, **counts) for key, counts in sorted(groups.items(), key=lambda kv: -kv[1]["conversations"])]
    names = dict((await session.execute(select(User.id, User.name))).all())
    if dialect_name(session) == "postgresql":
        busy, span, handled_time = await _occupancy_sql(session, f, zone)
    else:
        busy, span, handled_time = await _occupancy(session, f, zone)
    result = []
    for row in rows:
        if row.key is None:
            continue
        agent_id = int(row.key)
        result.append(
            AgentRow(
                agent_id=agent_id,
                name=names.get(agent_id, f"#{agent_id}"),
                handled=row.picked_up,
                handling_avg=_avg(row.handle_sum, row.handle_n),
                handling_total=float(row.handle_sum),
                first_response_avg=_avg(row.frt_sum, row.frt_n),
                answered=row.answered,
                nps=nps_score(row.promoters, row.detractors, row.answered),
                load=share(handled_time[agent_id], busy[agent_id]),
                occupancy=min(1.0, busy[agent_id] / span[agent_id]) if span[agent_id] else None,
            )
        )
    return result


async def _occupancy(session: AsyncSession, f: Subquery, zone: ZoneInfo) -> tuple[_Seconds, _Seconds, _Seconds]:
    """Per agent: busy seconds, working span and handled seconds, in Python (SQLite knows no time
    zones). Intervals from pick-up to ending, merged per agent and local day; in epoch seconds (ends
    from the stored handling time), with the local offset looked up once per UTC hour."""
    spans = await session.execute(select(f.c.agent_id, f.c.picked_at, f.c.handle_s).where(f.c.handle_s.is_not(None)))
    offsets: dict[int, float] = {}
    per_day: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    for agent_id, start, handle in spans.all():
        t = aware(start).timestamp()
        hour = int(t // 3600)
        offset = offsets.get(hour)
        if offset is None:
            offset = offsets[hour] = datetime.fromtimestamp(hour * 3600, zone).utcoffset().total_seconds()  # type: ignore[union-attr]  # aware: never None
        per_day[(agent_id, int((t + offset) // 86400))].append((t, t + handle))
    busy: _Seconds = defaultdict(float)
    span: _Seconds = defaultdict(float)
    handled_time: _Seconds = defaultdict(float)
    for (agent_id, _day), intervals in per_day.items():
        intervals.sort()
        span[agent_id] += max(e for _, e in intervals) - intervals[0][0]
        merged_end = None
        for start, end in intervals:
            handled_time[agent_id] += end - start
            if merged_end is None or start > merged_end:
                busy[agent_id] += end - start
                merged_end = end
            elif end > merged_end:
                busy[agent_id] += end - merged_end
                merged_end = end
    return busy, span, handled_time


async def _occupancy_sql(session: AsyncSession, f: Subquery, zone: ZoneInfo) -> tuple[_Seconds, _Seconds, _Seconds]:
    """The same three sums as ``_occupancy``, computed by PostgreSQL (a few dozen rows come back
    instead of every handled conversation). Busy time is the length of the union of an agent's
    intervals per local day: taken in start order, each interval adds what it reaches past the
    latest end before it (one window pass, no grouping into stretches)."""
    start = cast(func.date_part("epoch", f.c.picked_at), Float)  # a float, cheaper than extract()'s numeric
    spans = (
        select(
            f.c.agent_id.label("agent_id"),
            cast(func.timezone(zone.key, f.c.picked_at), Date).label("day"),
            start.label("s"),
            (start + f.c.handle_s).label("e"),
        )
        .where(f.c.handle_s.is_not(None))
        .subquery("spans")
    )
    ended_before = func.max(spans.c.e).over(
        partition_by=(spans.c.agent_id, spans.c.day), order_by=(spans.c.s, spans.c.e), rows=(None, -1)
    )
    reach = select(
        spans.c.agent_id,
        spans.c.day,
        spans.c.s,
        spans.c.e,
        func.coalesce(ended_before, spans.c.s).label("covered"),
    ).subquery("reach")
    days = (
        select(
            reach.c.agent_id,
            func.sum(func.greatest(0.0, reach.c.e - func.greatest(reach.c.s, reach.c.covered))).label("busy"),
            (func.max(reach.c.e) - func.min(reach.c.s)).label("span"),
            func.sum(reach.c.e - reach.c.s).label("handled"),
        )
        .group_by(reach.c.agent_id, reach.c.day)
        .subquery("days")
    )
    rows = await session.execute(
        select(days.c.agent_id, func.sum(days.c.busy), func.sum(days.c.span), func.sum(days.c.handled)).group_by(days.c.agent_id)
    )
    busy: _Seconds = defaultdict(float)
    span: _Seconds = defaultdict(float)
    handled_time: _Seconds = defaultdict(float)
    for agent_id, agent_busy, agent_span, handled in rows.all():
        busy[agent_id], span[agent_id], handled_time[agent_id] = float(agent_busy), float(agent_span), float(handled)
    return busy, span, handled_time


async def compute_report(
    session: AsyncSession, period: Period, filters: Filters = Filters(), *, targets: Targets = Targets()
) -> Report:
    """Every KPI of the dashboard for conversations started in ``period`` that match ``filters``."""
    if dialect_name(session) == "postgresql":
        # A report is a dozen short queries; PostgreSQL's JIT compiler would spend more time
        # compiling them (half a second at 1M conversations) than running them.
        await session.execute(text("SET LOCAL jit = off"))
    f = _facts(period, filters, targets, await team_targets(session))
    return await _report(session, f, period, filters)


async def _report(session: AsyncSession, f: Subquery, period: Period, filters: Filters) -> Report:
    zone = ZoneInfo(period.tz)

    # Per hour (the daily series and the heatmap), then per channel × team × agent × ending
    # (everything else is a sum over those groups, in Python).
    days: dict[date, Counter] = defaultdict(Counter)
    heatmap = [[0] * 24 for _ in range(7)]
    extra: Counter = Counter()  # answers per score and waits per bucket, when the hours hold them
    hours, rolled_up = await _hours(session, f, period, filters)
    for local, counts in hours:
        heatmap[local.weekday()][local.hour] += counts["conversations"]
        for name, value in counts.items():
            days[local.date()][name] += value or 0
        if rolled_up:
            extra.update({name: counts[name] for name in (*SCORE_COUNTS, *WAIT_COUNTS)})

    keys = (f.c.channel, f.c.team_id, f.c.agent_id, f.c.ending)
    # The score and wait counts are wanted for the whole period only: from the hours when they
    # hold them (19 aggregates fewer over every summary of the period), else from the groups.
    measures = _counts(f) if rolled_up else [*_counts(f), *_extra_counts(f)]
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
    sums: Counter = Counter(dict(zip(names, total))) + extra
    by = {
        dimension: {key: dict(zip(names, acc)) for key, acc in groups.items()}
        for dimension, groups in zip(("channel", "team_id", "agent_id", "ending"), per_key)
    }
    totals = Totals()
    for name in Totals.model_fields:
        if name != "bot_only":
            setattr(totals, name, int(sums[name]))
    totals.bot_only = totals.conversations - totals.escalated

    answered = int(sums["answered"])
    nps = Nps(
        asked=int(sums["asked"]),
        answered=answered,
        promoters=int(sums["promoters"]),
        passives=int(sums["passives"]),
        detractors=int(sums["detractors"]),
        score=nps_score(sums["promoters"], sums["detractors"], answered),
        distribution=[int(sums[name]) for name in SCORE_COUNTS],
    )
    rates = Rates(
        escalation=share(totals.escalated, totals.conversations),
        deflection=share(totals.deflected, totals.conversations),
        abandonment=share(totals.abandoned, totals.escalated),
        service_level=share(totals.within_service_level, totals.picked_up + totals.abandoned),
        first_contact_resolution=share(totals.first_contact_resolved, totals.resolved),
        unanswered_questions=share(totals.kb_unanswered, totals.kb_questions),
        survey_response=share(nps.answered, nps.asked),
    )
    p90 = await _percentiles(session, f)
    durations = Durations(
        wait_avg=_avg(sums["wait_sum"], sums["wait_n"]),
        wait_p90=p90["wait"],
        first_response_avg=_avg(sums["frt_sum"], sums["frt_n"]),
        first_response_p90=p90["first_response"],
        handling_avg=_avg(sums["handle_sum"], sums["handle_n"]),
        resolution_avg=_avg(sums["resolution_sum"], sums["resolution_n"]),
        resolution_p90=p90["resolution"],
    )

    histogram = [int(sums[name]) for name in WAIT_COUNTS]

    complaints_rows = await session.execute(
        select(f.c.id, f.c.created_at, f.c.channel, f.c.team_id, f.c.agent_id, f.c.abandoned, f.c.resolved, f.c.picked, f.c.score)
        .where(f.c.complaint == 1)
        .order_by(f.c.created_at.desc())
        .limit(200)
    )
    complaints = [
        Complaint(
            conversation_id=r.id,
            started_at=aware(r.created_at),
            channel=r.channel,
            team_id=r.team_id,
            agent_id=r.agent_id,
            outcome="abandoned" if r.abandoned else "resolved" if r.resolved else "with an agent" if r.picked else "waiting",
            score=r.score,
        )
        for r in complaints_rows.all()
    ]
    # Counted per distinct text, so each is sent and folded into words once.
    reasons: dict[str, int] = dict(
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

    return Report(
        start=period.start,
        end=period.end,
        timezone=period.tz,
        filters={k: v for k, v in filters.__dict__.items() if v is not None},
        totals=totals,
        rates=rates,
        nps=nps,
        durations=durations,
        days=[
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
        ],
        heatmap=heatmap,
        wait_histogram=histogram,
        channels=_groups(by["channel"]),
        teams=_groups(by["team_id"]),
        agents=await _agent_rows(session, f, zone, by["agent_id"]),
        endings=_groups(by["ending"]),
        complaints=complaints,
        detractor_themes=[Theme(word=w, count=n) for w, n in top_words(reasons, limit=15)],
    )
