"""The agents' table of a report: what each agent handled, and their load and occupancy, computed
from the intervals between their pick-ups and endings."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Float, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import Subquery

from core.models import aware
from handoff.models import TeamMember, User
from insights.models import ConversationSummary
from insights.ratios import average, nps_score, share
from insights.report import AgentRow
from insights.sql import dialect_name

# Seconds per agent id; 0.0 for an agent with none.
_Seconds = defaultdict[int, float]


async def agent_rows(session: AsyncSession, f: Subquery, zone: ZoneInfo, groups: dict) -> list[AgentRow]:
    """The agents' table: from their per-agent sums, plus their names, load and occupancy."""
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
                handling_avg=average(row.handle_sum, row.handle_n),
                handling_total=float(row.handle_sum),
                first_response_avg=average(row.frt_sum, row.frt_n),
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


async def filter_agents(session: AsyncSession) -> list[User]:
    """The people the dashboard's agent filter offers: everyone who is in a team (whatever their
    role: a supervisor or an admin may take chats too) or who has held a conversation, by name."""
    members = select(TeamMember.user_id)
    handled = select(ConversationSummary.agent_id).where(ConversationSummary.agent_id.is_not(None))
    stmt = select(User).where(or_(User.id.in_(members), User.id.in_(handled))).order_by(User.name, User.id)
    return list((await session.execute(stmt)).scalars().all())
