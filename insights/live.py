"""Live counters for the dashboard: what the queues look like right now (current state, not history)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import aware
from handoff.models import Conversation, State, TeamMember, User


class LiveCounters(BaseModel):
    queued_now: int
    with_agents_now: int
    longest_wait_s: float | None
    queued_by_team: dict[str, int]
    agents_online: int


async def agents_online(session: AsyncSession) -> int:
    """How many people of the teams are online: the status the console shows next to each agent
    (set by the agent, or by their console opening and closing), so both pages agree."""
    members = select(TeamMember.user_id).distinct()
    stmt = select(func.count()).select_from(User).where(User.id.in_(members), User.active.is_(True), User.status == "online")
    return int((await session.execute(stmt)).scalar_one())


async def live_counters(session: AsyncSession, *, now: datetime | None = None) -> LiveCounters:
    """Queued and in-service conversations now, the longest current wait, and the agents online."""
    now = now or datetime.now(UTC)
    rows = (
        await session.execute(
            select(Conversation.team_id, func.count(), func.min(Conversation.queued_at))
            .where(Conversation.state == State.QUEUED)
            .group_by(Conversation.team_id)
        )
    ).all()
    with_agents = (await session.execute(select(func.count()).where(Conversation.state == State.HUMAN))).scalar_one()
    oldest = [t for _, _, t in rows if t is not None]
    longest = None
    if oldest:
        first = min(aware(t) for t in oldest)
        longest = max(0.0, (now - first).total_seconds())
    return LiveCounters(
        queued_now=sum(n for _, n, _ in rows),
        with_agents_now=with_agents,
        longest_wait_s=longest,
        queued_by_team={team or "-": n for team, n, _ in rows},
        agents_online=await agents_online(session),
    )
