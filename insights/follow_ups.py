"""Closing the loop with unhappy customers: a detractor's answer opens a follow-up task, one agent
claims it (compare-and-set, so two agents never call the same customer), and marks it done."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from insights.models import FollowUp, Survey, utcnow

DETRACTOR_MAX = 6


class FollowUpError(Exception):
    """Base of follow-up errors; the message says what to do."""


class FollowUpNotFound(FollowUpError):
    def __init__(self, follow_up_id: int) -> None:
        super().__init__(f"follow-up {follow_up_id} does not exist")


class FollowUpAlreadyClaimed(FollowUpError):
    def __init__(self) -> None:
        super().__init__("another agent has already taken this follow-up")


class NotYourFollowUp(FollowUpError):
    def __init__(self) -> None:
        super().__init__("claim this follow-up before closing it")


def is_detractor(score: int | None) -> bool:
    """0–6: a detractor in the standard NPS classes (9–10 promoters, 7–8 passives)."""
    return score is not None and 0 <= score <= DETRACTOR_MAX


async def open_follow_up(session: AsyncSession, survey: Survey) -> FollowUp | None:
    """Open the follow-up of a detractor's survey (``None`` for other scores, or when it exists)."""
    if not is_detractor(survey.score):
        return None
    task = FollowUp(
        conversation_id=survey.conversation_id,
        team_id=survey.team_id,
        score=survey.score,
        reason=survey.reason,
        created_at=utcnow(),
    )
    try:
        async with session.begin_nested():
            session.add(task)
            await session.flush()
    except IntegrityError:
        return None
    return task


async def get_follow_up(session: AsyncSession, follow_up_id: int) -> FollowUp:
    """The follow-up, freshly read."""
    stmt = select(FollowUp).where(FollowUp.id == follow_up_id).execution_options(populate_existing=True)
    task = (await session.execute(stmt)).scalar_one_or_none()
    if task is None:
        raise FollowUpNotFound(follow_up_id)
    return task


async def claim_follow_up(session: AsyncSession, follow_up_id: int, agent_id: int) -> FollowUp:
    """The agent takes the follow-up. Of two concurrent claims one wins; the other raises
    ``FollowUpAlreadyClaimed``."""
    await get_follow_up(session, follow_up_id)
    result = await session.execute(
        update(FollowUp)
        .where(FollowUp.id == follow_up_id, FollowUp.claimed_by.is_(None))
        .values(claimed_by=agent_id, claimed_at=utcnow())
    )
    if cast(CursorResult, result).rowcount != 1:  # an UPDATE's result is a CursorResult
        raise FollowUpAlreadyClaimed()
    return await get_follow_up(session, follow_up_id)


async def complete_follow_up(session: AsyncSession, follow_up_id: int, agent_id: int, outcome: str) -> FollowUp:
    """The agent who claimed it records what came of the call back."""
    task = await get_follow_up(session, follow_up_id)
    if task.claimed_by != agent_id:
        raise NotYourFollowUp()
    task.done_at = utcnow()
    task.outcome = outcome.strip()[:2000] or None
    await session.flush()
    return task


async def list_follow_ups(session: AsyncSession, team_ids: Sequence[str] | None, *, open_only: bool = True) -> Sequence[FollowUp]:
    """Follow-ups of these teams (``None``: every team), oldest first; a bot-only conversation has
    no team, so its follow-up is everyone's."""
    stmt = select(FollowUp)
    if open_only:
        stmt = stmt.where(FollowUp.done_at.is_(None))
    if team_ids is not None:
        stmt = stmt.where(FollowUp.team_id.in_(team_ids) | FollowUp.team_id.is_(None))
    return (await session.execute(stmt.order_by(FollowUp.created_at).limit(500))).scalars().all()
