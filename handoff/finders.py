"""The conversations' read side: one conversation, a customer's, a team's queue, an agent's chats,
the quiet ones, a conversation's messages; and who may read a conversation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import aware
from handoff.errors import ConversationNotFound
from handoff.models import Conversation, Message, OwnershipEvent, State, Team, User

MAX_ROUTING_HOPS = 20  # a team archived into one archived later: the chain is followed this far

OPEN_STATES = (State.BOT, State.QUEUED, State.HUMAN, State.CLOSING)


async def get_conversation(session: AsyncSession, conversation_id: str, *, for_update: bool = False) -> Conversation:
    """The conversation, freshly read from the database."""
    stmt = select(Conversation).where(Conversation.id == conversation_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    conversation = (await session.execute(stmt)).scalar_one_or_none()
    if conversation is None:
        raise ConversationNotFound(conversation_id)
    return conversation


async def find_open_conversation(session: AsyncSession, *, channel: str, customer_id: str) -> Conversation | None:
    """The customer's conversation on this channel that has not ended, if any."""
    stmt = (
        select(Conversation)
        .where(
            Conversation.channel == channel,
            Conversation.customer_id == customer_id,
            Conversation.state.in_(OPEN_STATES),
        )
        .order_by(Conversation.created_at.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def conversation_history(session: AsyncSession, conversation_id: str, *, include_notes: bool = True) -> Sequence[Message]:
    """Every message of the conversation, bot part included, oldest first. Customers' views pass
    ``include_notes=False``: agents' private notes are not theirs to see."""
    stmt = select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
    if not include_notes:
        stmt = stmt.where(Message.internal.is_(False))
    return (await session.execute(stmt)).scalars().all()


async def list_queue(session: AsyncSession, team_ids: Sequence[str] | None) -> Sequence[Conversation]:
    """Queued conversations of these teams (all teams when ``None``): highest priority, then oldest first."""
    stmt = select(Conversation).where(Conversation.state == State.QUEUED)
    if team_ids is not None:
        stmt = stmt.where(Conversation.team_id.in_(team_ids))
    stmt = stmt.order_by(Conversation.priority.desc(), Conversation.queued_at)
    return (await session.execute(stmt)).scalars().all()


async def list_agent_conversations(session: AsyncSession, agent_id: int) -> Sequence[Conversation]:
    """The conversations this agent is handling now."""
    stmt = (
        select(Conversation)
        .where(Conversation.state == State.HUMAN, Conversation.agent_id == agent_id)
        .order_by(Conversation.queued_at)
    )
    return (await session.execute(stmt)).scalars().all()


async def quiet_conversations(session: AsyncSession, *, silent_since: datetime) -> Sequence[Conversation]:
    """Bot-owned or closing conversations in which nobody has written since ``silent_since``
    (and the customer wrote at least once)."""
    stmt = select(Conversation).where(
        Conversation.state.in_((State.BOT, State.CLOSING)),
        Conversation.last_customer_at.is_not(None),
        Conversation.last_message_at < silent_since,
    )
    return (await session.execute(stmt)).scalars().all()


async def unanswered_claims(session: AsyncSession, *, now: datetime, conversation_id: str | None = None) -> list[str]:
    """Chats an agent holds without having answered the customer since they got them (claim,
    assignment, transfer) for longer than their team's ``claim_answer_seconds``; only
    ``conversation_id`` when given. Teams without the setting are left out."""
    held_since = (
        select(func.max(OwnershipEvent.at))
        .where(OwnershipEvent.conversation_id == Conversation.id, OwnershipEvent.to_state == State.HUMAN.value)
        .correlate(Conversation)  # to the chat's own row, also inside ``answered`` (two levels down)
        .scalar_subquery()
    )
    answered = exists().where(
        Message.conversation_id == Conversation.id,
        Message.sender == "agent",
        Message.internal.is_(False),
        Message.created_at >= held_since,
    )
    stmt = (
        select(Conversation.id, Team.claim_answer_seconds, held_since)
        .join(Team, Team.id == Conversation.team_id)
        .where(Conversation.state == State.HUMAN, Team.claim_answer_seconds > 0, ~answered)
    )
    if conversation_id is not None:
        stmt = stmt.where(Conversation.id == conversation_id)
    # The deadline is compared here, not in SQL: date arithmetic differs between SQLite and PostgreSQL.
    return [
        cid
        for cid, seconds, since in (await session.execute(stmt.order_by(Conversation.id))).all()
        if since is not None and seconds and (now - aware(since)).total_seconds() >= seconds
    ]


async def latest_conversation(session: AsyncSession, *, channel: str, customer_id: str) -> Conversation | None:
    """The customer's most recent conversation on this channel, ended or not."""
    stmt = (
        select(Conversation)
        .where(Conversation.channel == channel, Conversation.customer_id == customer_id)
        .order_by(Conversation.created_at.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def queued_conversations(session: AsyncSession) -> Sequence[Conversation]:
    """Every waiting conversation (for the abandonment check)."""
    return (await session.execute(select(Conversation).where(Conversation.state == State.QUEUED))).scalars().all()


async def customer_conversations(
    session: AsyncSession, *, channel: str, customer_id: str, limit: int = 10
) -> Sequence[Conversation]:
    """The customer's latest conversations on this channel, newest first (their profile's history)."""
    stmt = (
        select(Conversation)
        .where(Conversation.channel == channel, Conversation.customer_id == customer_id)
        .order_by(Conversation.created_at.desc())
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


def can_access(conversation: Conversation, user: User, team_ids: Sequence[str] | None) -> bool:
    """Whether ``user`` (in ``team_ids``; ``None`` for every team) may read this conversation."""
    return team_ids is None or conversation.agent_id == user.id or conversation.team_id in team_ids


async def routing_team(session: AsyncSession, team_id: str) -> str:
    """The team a chat for ``team_id`` goes to: itself while active, else the team its queue was
    moved to when it was archived (followed along later archivings). An unknown id is returned as is."""
    for _ in range(MAX_ROUTING_HOPS):
        team = await session.get(Team, team_id)
        if team is None or team.archived_at is None or not team.moved_to:
            return team_id
        team_id = team.moved_to
    return team_id
