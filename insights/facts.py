"""The conversations of a report (their summaries, filtered, with the flags that depend on the
targets) and the aggregates read over them: the sums every table shares, the hourly series, the
answers per score and waits per bucket, the percentiles."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, and_, case, cast, func, literal, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import Subquery

from handoff.models import Team
from insights.models import ConversationHour, ConversationSummary
from insights.period import Filters, Period, Targets
from insights.ratios import percentile
from insights.sql import dialect_name, hour_bucket
from insights.summaries import HOUR_COUNTS, SCORE_COUNTS, WAIT_COUNTS, wait_bucket_conditions


async def team_targets(session: AsyncSession) -> dict[str, int]:
    """Each team's own pick-up target in seconds (``Team.sla_seconds``)."""
    return {team: int(seconds) for team, seconds in (await session.execute(select(Team.id, Team.sla_seconds))).all() if seconds}


def facts(period: Period, filters: Filters, targets: Targets, per_team: dict[str, int]) -> Subquery:
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


def counts(f: Subquery) -> list:
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


def extra_counts(f: Subquery) -> list:
    """Answers per score and picked-up waits per bucket (for the distribution and the histogram).
    ``count(*) FILTER (WHERE …)`` rather than ``sum(CASE …)``: the same counts, a fifth of the cost."""
    s = lambda cond: func.count().filter(cond)  # noqa: E731 - a one-line SQL shorthand
    waits = [s(cond).label(name) for name, cond in zip(WAIT_COUNTS, wait_bucket_conditions(f.c.wait_s))]
    return [s(f.c.score == k).label(name) for k, name in enumerate(SCORE_COUNTS)] + waits


async def p90s(session: AsyncSession, f: Subquery) -> dict[str, float | None]:
    """The 90th percentile of the waits, first responses and resolution times."""
    columns = {"wait": f.c.wait_s, "first_response": f.c.first_response_s, "resolution": f.c.resolution_s}
    if dialect_name(session) == "postgresql":
        row = (
            await session.execute(select(*(func.percentile_cont(0.9).within_group(col).label(k) for k, col in columns.items())))
        ).one()
        return {k: (float(v) if v is not None else None) for k, v in row._mapping.items()}
    rows = (await session.execute(select(*columns.values()).where(f.c.escalated + f.c.resolved > 0))).all()
    return {name: percentile([row[i] for row in rows], 0.9) for i, name in enumerate(columns)}


async def hours(session: AsyncSession, f: Subquery, period: Period, filters: Filters) -> tuple[list[tuple[datetime, dict]], bool]:
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
