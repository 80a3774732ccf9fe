"""Where a waiting customer stands: position in the team's queue and an estimated wait."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff.models import Conversation, OwnershipEvent, State, TeamMember, User

DEFAULT_HANDLE_SECONDS = 300  # until the team has closed chats of its own to learn from
RECENT_CHATS = 20


@dataclass(frozen=True)
class QueueStanding:
    """Position 1 is next; the wait is position × recent handle time ÷ agents available."""

    conversation_id: str
    team_id: str
    position: int
    wait_seconds: int
    channel: str = ""
    customer_id: str = ""


async def recent_handle_seconds(session: AsyncSession, team_id: str) -> float:
    """Mean time agents of the team held their last chats (claim to close), from ownership events."""
    stmt = (
        select(OwnershipEvent.conversation_id, OwnershipEvent.to_state, OwnershipEvent.from_state, OwnershipEvent.at)
        .where(
            OwnershipEvent.team_id == team_id,
            or_(OwnershipEvent.to_state == State.HUMAN.value, OwnershipEvent.from_state == State.HUMAN.value),
        )
        .order_by(OwnershipEvent.id.desc())
        .limit(RECENT_CHATS * 4)
    )
    started: dict[str, datetime] = {}
    durations: list[float] = []
    for conversation_id, to_state, from_state, at in reversed((await session.execute(stmt)).all()):
        if to_state == State.HUMAN.value:
            started[conversation_id] = at
        elif from_state == State.HUMAN.value and conversation_id in started:
            durations.append((at - started.pop(conversation_id)).total_seconds())
    durations = durations[-RECENT_CHATS:]
    return sum(durations) / len(durations) if durations else DEFAULT_HANDLE_SECONDS


async def agents_available(session: AsyncSession, team_id: str) -> int:
    """Online agents of the team."""
    stmt = (
        select(func.count())
        .select_from(User)
        .join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.team_id == team_id, User.status == "online", User.active.is_(True))
    )
    return int((await session.execute(stmt)).scalar_one())


async def queue_standings(session: AsyncSession, team_id: str) -> list[QueueStanding]:
    """Every waiting conversation of the team, in the order agents will take them."""
    stmt = (
        select(Conversation.id, Conversation.channel, Conversation.customer_id)
        .where(Conversation.state == State.QUEUED, Conversation.team_id == team_id)
        .order_by(Conversation.priority.desc(), Conversation.queued_at)
    )
    rows = (await session.execute(stmt)).all()
    if not rows:
        return []
    per_chat = await recent_handle_seconds(session, team_id) / max(1, await agents_available(session, team_id))
    return [
        QueueStanding(cid, team_id, n, round(n * per_chat), channel, customer_id)
        for n, (cid, channel, customer_id) in enumerate(rows, 1)
    ]


async def queue_standing(session: AsyncSession, conversation_id: str) -> QueueStanding | None:
    """The standing of one waiting conversation (None when it is not queued)."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or conversation.state != State.QUEUED or conversation.team_id is None:
        return None
    ahead = (
        await session.execute(
            select(func.count())
            .select_from(Conversation)
            .where(
                Conversation.state == State.QUEUED,
                Conversation.team_id == conversation.team_id,
                or_(
                    Conversation.priority > conversation.priority,
                    and_(Conversation.priority == conversation.priority, Conversation.queued_at < conversation.queued_at),
                ),
            )
        )
    ).scalar_one()
    per_chat = await recent_handle_seconds(session, conversation.team_id) / max(
        1, await agents_available(session, conversation.team_id)
    )
    position = int(ahead) + 1
    return QueueStanding(conversation_id, conversation.team_id, position, round(position * per_chat))
