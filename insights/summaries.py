"""One summary row per conversation, kept up to date as the desk appends its rows, so the KPIs
aggregate a narrow, indexed table instead of re-reading every event, message and survey.

The appended rows stay the truth: a summary is a fold over a conversation's ownership events,
messages and survey, done twice —

- as they are appended (``note_appended`` and ``note_survey``, called in the same transaction by the
  functions that append them: handoff calls the session's append listeners, which the hub sets to
  ``note_appended``; insights' survey functions call ``note_survey``), and
- from scratch in SQL (``rebuild_summaries``: the backfill of migration 0702 and of ``balcao
  insights rebuild``),

and the tests check that both give the same rows on generated event streams. Each change of a
summary also moves its counts in its hour's row of ``conversation_hours`` (``HOUR_COUNTS``), which
the rebuild recomputes from the summaries too.

What a summary holds (the KPI definitions in ``insights.kpis`` build on these):

- started_at, channel, language: the conversation's immutable facts.
- queued_at / picked_at: the first escalation to a queue and the first pick-up (claim, assignment
  or transfer to an agent); team_id: the team of the last escalation or transfer; agent_id: the
  agent of the last pick-up; escalation_reason: the reason of the first escalation; complaint:
  escalated as a complaint at least once.
- abandoned_at: the customer left while queued; closing_at / ended_at: the last ending events;
  resolved_at: closing_at, else ended_at.
- first_reply_at: the first agent message the customer saw (private notes excluded).
- kb_asked / kb_missed: the customers' questions the bot put to the knowledge base, and those it
  could not answer with confidence (it offered choices or missed: ``UNANSWERED_MARKS``) — the same
  turns that keep an unanswered question for the editors (``kb_index.record_unanswered``).
- surveyed, score, ending, reason: the NPS survey (reason: the follow-up answer's text).
- next_started_at: when the same customer next started a conversation on the same channel (for
  first-contact resolution).
- escalated, abandoned, picked, resolved, deflected (0/1) and wait_s, first_response_s, handle_s,
  resolution_s, returned_after_s (seconds from resolution to the customer's next conversation)
  derived from the above, so reports only sum and count.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import aware
from handoff.models import Conversation, Message, OwnershipEvent, State
from insights.buckets import HOUR_COUNTS, SCORE_COUNTS, WAIT_BUCKETS, WAIT_COUNTS, epoch_hour_of, wait_bucket_conditions
from insights.models import ConversationHour, ConversationSummary, Survey
from insights.rebuild import UNANSWERED_MARKS, rebuild_hours_statement, rebuild_statement, rebuild_summaries
from insights.sql import dialect_name

# Re-exported: the buckets and the rebuild were defined here first, and callers (the migrations,
# the commands, the KPIs) import them from here.
__all__ = [
    "HOUR_COUNTS",
    "SCORE_COUNTS",
    "WAIT_BUCKETS",
    "WAIT_COUNTS",
    "derive",
    "epoch_hour_of",
    "note_appended",
    "note_survey",
    "rebuild_hours_statement",
    "rebuild_statement",
    "rebuild_summaries",
    "wait_bucket_conditions",
]


def _seconds(earlier: datetime | None, later: datetime | None) -> float | None:
    if earlier is None or later is None:
        return None
    return (aware(later) - aware(earlier)).total_seconds()


def _earliest(current: datetime | None, at: datetime) -> datetime:
    return at if current is None or aware(at) < aware(current) else current


def _latest(current: datetime | None, at: datetime) -> datetime:
    return at if current is None or aware(at) > aware(current) else current


_NOTHING = (0,) * len(HOUR_COUNTS)


def _hour_counts(s: ConversationSummary) -> tuple[int, ...]:
    score = s.score
    answered = score is not None
    waits = [0] * len(WAIT_COUNTS)
    if s.wait_s is not None:
        waits[bisect_left(WAIT_BUCKETS, s.wait_s)] = 1  # the first bucket whose upper bound is reached
    return (
        1,
        s.escalated,
        s.deflected,
        int(answered),
        int(score is not None and score >= 9),
        int(score is not None and 7 <= score <= 8),
        int(score is not None and score <= 6),
        *(int(score == k) for k in range(11)),
        *waits,
    )


async def _move_hour_counts(session: AsyncSession, s: ConversationSummary, before: tuple[int, ...]) -> None:
    """Add the change of ``s``'s counts since ``before`` to its hour's row (created if missing)."""
    delta = {name: new - old for name, new, old in zip(HOUR_COUNTS, _hour_counts(s), before) if new != old}
    if not delta:
        return
    table = ConversationHour.__table__
    # An upsert: two desks appending to conversations of the same hour at once must both count.
    dialect = postgresql if dialect_name(session) == "postgresql" else sqlite
    stmt = dialect.insert(table).values(hour=epoch_hour_of(s.started_at), **{name: delta.get(name, 0) for name in HOUR_COUNTS})
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.hour], set_={name: table.c[name] + stmt.excluded[name] for name in delta}
    )
    await session.execute(stmt)


def derive(s: ConversationSummary) -> None:
    """Recompute the derived columns of ``s`` from its raw ones (the same rules as the SQL rebuild)."""
    s.escalated = int(s.queued_at is not None)
    s.abandoned = int(s.abandoned_at is not None)
    s.picked = int(s.picked_at is not None and not s.abandoned)
    s.resolved_at = s.closing_at if s.closing_at is not None else s.ended_at
    s.resolved = int(s.resolved_at is not None and not s.abandoned)
    s.deflected = int(bool(s.resolved) and not s.escalated)
    s.wait_s = _seconds(s.queued_at, s.picked_at) if s.picked else None
    handle = _seconds(s.picked_at, s.resolved_at) if s.picked else None
    s.handle_s = handle if handle is not None and handle >= 0 else None
    s.first_response_s = _seconds(s.queued_at, s.first_reply_at) if s.escalated else None
    s.resolution_s = _seconds(s.started_at, s.resolved_at) if s.resolved else None
    s.returned_after_s = _seconds(s.resolved_at, s.next_started_at)


def _new_summary(conversation: Conversation) -> ConversationSummary:
    s = ConversationSummary(
        conversation_id=conversation.id,
        started_at=conversation.created_at,
        channel=conversation.channel,
        language=conversation.language,
        complaint=0,
        kb_asked=0,
        kb_missed=0,
        surveyed=0,
    )
    derive(s)
    return s


async def _summary(session: AsyncSession, conversation_id: str) -> ConversationSummary:
    """The conversation's summary, locked for this transaction (created if missing, e.g. for a
    conversation started before the summaries existed and not yet backfilled)."""
    s = await session.get(ConversationSummary, conversation_id, with_for_update=True, populate_existing=True)
    if s is None:
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None:
            raise LookupError(f"conversation {conversation_id} does not exist")
        s = _new_summary(conversation)
        session.add(s)
        await _move_hour_counts(session, s, _NOTHING)
    return s


async def _note_start(session: AsyncSession, conversation: Conversation) -> None:
    started = _new_summary(conversation)
    session.add(started)
    await _move_hour_counts(session, started, _NOTHING)
    # The customer's previous conversation on this channel learns that they came back (first-contact resolution).
    previous = (
        await session.execute(
            select(Conversation.id)
            .where(
                Conversation.channel == conversation.channel,
                Conversation.customer_id == conversation.customer_id,
                Conversation.created_at < conversation.created_at,
            )
            .order_by(Conversation.created_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if previous is not None:
        s = await _summary(session, previous)
        if s.next_started_at is None:
            s.next_started_at = conversation.created_at
            derive(s)
    await session.flush()


def _apply_event(s: ConversationSummary, e: OwnershipEvent) -> None:
    if e.to_state == State.QUEUED:
        if s.queued_at is None:  # the first escalation (events are appended in time order)
            s.escalation_reason = e.reason
        s.queued_at = _earliest(s.queued_at, e.at)
        s.team_id = e.team_id
        if e.reason == "complaint":
            s.complaint = 1
    elif e.to_state == State.HUMAN:
        s.picked_at = _earliest(s.picked_at, e.at)
        s.agent_id = e.agent_id
    elif e.to_state == State.CLOSING:
        s.closing_at = _latest(s.closing_at, e.at)
    elif e.to_state == State.ENDED:
        s.ended_at = _latest(s.ended_at, e.at)
    elif e.to_state == State.ABANDONED:
        s.abandoned_at = _latest(s.abandoned_at, e.at)


def _may_change_summary(m: Message) -> bool:
    """Whether ``_apply_message`` can change a summary for ``m`` (only these lock and rewrite it)."""
    if m.sender == "agent":
        return not m.internal
    return m.sender == "bot" and (m.data or {}).get("kb") is not None


def _apply_message(s: ConversationSummary, m: Message) -> None:
    if m.sender == "agent" and not m.internal:
        s.first_reply_at = _earliest(s.first_reply_at, m.created_at)
    elif m.sender == "bot":
        kb = (m.data or {}).get("kb")
        if kb is not None:
            s.kb_asked += 1
            if kb in UNANSWERED_MARKS:
                s.kb_missed += 1


async def note_appended(session: AsyncSession, row: Any) -> None:
    """Fold a row the desk just appended (a started ``Conversation``, a ``Message`` or an
    ``OwnershipEvent``) into its conversation's summary, in the caller's transaction. This is the
    append listener the app attaches to its sessions (``core.events.listening``)."""
    if isinstance(row, Conversation):
        await _note_start(session, row)
        return
    if isinstance(row, OwnershipEvent):
        s = await _summary(session, row.conversation_id)
        before = _hour_counts(s)
        _apply_event(s, row)
    elif isinstance(row, Message):
        if not _may_change_summary(row):
            return  # e.g. customers' messages, or the bot's "did that solve it?": no row to lock
        s = await _summary(session, row.conversation_id)
        before = _hour_counts(s)
        _apply_message(s, row)
    else:
        raise TypeError(f"conversation summaries do not fold {type(row).__name__} rows")
    derive(s)
    await _move_hour_counts(session, s, before)
    await session.flush()


async def note_survey(session: AsyncSession, survey: Survey) -> None:
    """Copy the survey's state (asked, score, ending, reason) into its conversation's summary."""
    s = await _summary(session, survey.conversation_id)
    before = _hour_counts(s)
    s.surveyed, s.score, s.ending, s.reason = 1, survey.score, survey.ending, survey.reason
    await _move_hour_counts(session, s, before)
    await session.flush()
