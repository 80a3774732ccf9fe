"""The NPS survey of a conversation: opened when the ending asks the question, answered once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from insights.models import Survey, utcnow
from insights.summaries import note_survey


class SurveyAlreadyAnswered(Exception):
    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"the survey of conversation {conversation_id} was already answered")


async def get_survey(session: AsyncSession, conversation_id: str) -> Survey | None:
    """The conversation's survey, if the question was ever asked."""
    stmt = select(Survey).where(Survey.conversation_id == conversation_id).execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def open_survey(
    session: AsyncSession,
    conversation_id: str,
    *,
    channel: str,
    language: str,
    ending: str,
    team_id: str | None,
    agent_id: int | None,
) -> Survey | None:
    """Record that the NPS question is being asked. Returns ``None`` when this conversation was
    already surveyed: one survey per conversation, whichever side ended it."""
    survey = Survey(
        conversation_id=conversation_id,
        channel=channel,
        language=language,
        ending=ending,
        team_id=team_id,
        agent_id=agent_id,
        bot_only=agent_id is None,
        asked_at=utcnow(),
    )
    try:
        async with session.begin_nested():
            session.add(survey)
            await session.flush()
    except IntegrityError:
        return None
    await note_survey(session, survey)
    return survey


async def answer_survey(session: AsyncSession, conversation_id: str, score: int | None) -> Survey:
    """Store the customer's score (``None`` when they gave no usable number)."""
    survey = await get_survey(session, conversation_id)
    if survey is None:
        raise LookupError(f"no NPS question was asked in conversation {conversation_id}")
    if survey.answered_at is not None:
        raise SurveyAlreadyAnswered(conversation_id)
    if score is not None and not 0 <= score <= 10:
        raise ValueError(f"an NPS score is 0 to 10, not {score}")
    survey.score = score
    survey.answered_at = utcnow()
    await session.flush()
    await note_survey(session, survey)
    return survey


async def record_reason(session: AsyncSession, conversation_id: str, reason: str) -> Survey:
    """Store the optional "what is the main reason?" text."""
    survey = await get_survey(session, conversation_id)
    if survey is None:
        raise LookupError(f"no NPS question was asked in conversation {conversation_id}")
    survey.reason = reason.strip()[:2000] or None
    await session.flush()
    await note_survey(session, survey)
    return survey


# What an export of the raw answers holds, in its order ("no answer": asked, never answered).
EXPORT_COLUMNS = (
    "conversation_id",
    "channel",
    "language",
    "team_id",
    "agent_id",
    "bot_only",
    "ending",
    "asked_at",
    "answered_at",
    "score",
    "reason",
)


async def list_surveys(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    channel: str | None = None,
    team_id: str | None = None,
    agent_id: int | None = None,
    language: str | None = None,
    limit: int = 100_000,
) -> Sequence[Row]:
    """The raw survey answers asked in ``[start, end)``, oldest first (for exports): plain rows of
    the columns ``EXPORT_COLUMNS``, in that order (not ORM objects: an export reads tens of thousands)."""
    stmt = select(*(Survey.__table__.c[name] for name in EXPORT_COLUMNS)).where(Survey.asked_at >= start, Survey.asked_at < end)
    for column, value in (
        (Survey.channel, channel),
        (Survey.team_id, team_id),
        (Survey.agent_id, agent_id),
        (Survey.language, language),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    # On the session's connection, not through the ORM: its row loading was half of an export's time.
    connection = await session.connection()
    return (await connection.execute(stmt.order_by(Survey.asked_at).limit(limit))).all()
