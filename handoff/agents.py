"""Agents' availability and the choice of who gets a chat when a team assigns automatically."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.events import queue_event
from core.models import aware
from handoff.conversations import assign_conversation
from handoff.events import AgentStatusChanged
from handoff.finders import list_queue
from handoff.models import Conversation, State, Team, TeamMember, User

STATUSES = ("online", "away", "offline")


class UnknownStatus(ValueError):
    def __init__(self, status: str) -> None:
        super().__init__(f"status {status!r} is not one of {', '.join(STATUSES)}")


@dataclass(frozen=True)
class AgentLoad:
    user: User
    open_chats: int

    @property
    def free(self) -> int:
        return max(0, self.user.capacity - self.open_chats)


async def set_agent_status(session: AsyncSession, user: User, status: str, *, by: str = "agent") -> User:
    """An agent is online, away or offline, set ``by`` the agent or by ``"presence"`` (the
    console closed or opened)."""
    if status not in STATUSES:
        raise UnknownStatus(status)
    if by not in ("agent", "presence"):
        raise ValueError(f"status set by {by!r}: expected 'agent' or 'presence'")
    changed = user.status != status
    if changed or user.status_by != by:
        await session.execute(update(User).where(User.id == user.id).values(status=status, status_by=by))
        user.status, user.status_by = status, by
    if changed:
        teams = (await session.execute(select(TeamMember.team_id).where(TeamMember.user_id == user.id))).scalars()
        queue_event(session, AgentStatusChanged(user_id=user.id, name=user.name, status=status, team_ids=list(teams)))
    return user


async def team_loads(session: AsyncSession, team_id: str) -> list[AgentLoad]:
    """Every active agent of the team with the number of chats they hold now."""
    open_chats = (
        select(Conversation.agent_id, func.count().label("n"))
        .where(Conversation.state == State.HUMAN)
        .group_by(Conversation.agent_id)
        .subquery()
    )
    stmt = (
        select(User, func.coalesce(open_chats.c.n, 0))
        .join(TeamMember, TeamMember.user_id == User.id)
        .outerjoin(open_chats, open_chats.c.agent_id == User.id)
        .where(TeamMember.team_id == team_id, User.active.is_(True))
        .order_by(User.id)
    )
    return [AgentLoad(user, int(n)) for user, n in (await session.execute(stmt)).all()]


def choose_agent(loads: Sequence[AgentLoad]) -> User | None:
    """The least-loaded online agent with free capacity; among equals, the one who waited longest
    since their last assignment (round robin)."""
    candidates = [load for load in loads if load.user.status == "online" and load.free > 0]
    if not candidates:
        return None
    never = datetime.min.replace(tzinfo=UTC)

    def key(load: AgentLoad) -> tuple:
        return (load.open_chats, aware(load.user.last_assigned_at) or never, load.user.id)

    return min(candidates, key=key).user


async def assign_waiting(session: AsyncSession, team_id: str) -> list[Conversation]:
    """For a team that assigns automatically: give waiting chats, best first, to agents with room."""
    team = await session.get(Team, team_id)
    if team is None or team.assignment != "auto":
        return []
    assigned = []
    for conversation in await list_queue(session, [team_id]):
        agent = choose_agent(await team_loads(session, team_id))
        if agent is None:
            break
        assigned.append(await assign_conversation(session, conversation.id, agent))
    return assigned
