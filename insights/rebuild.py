"""The summaries recomputed from scratch in SQL, from the appended rows (the backfill of migration
0702 and of ``balcao insights rebuild``); the tests check they equal the ones folded as the rows
were appended (``insights.summaries``)."""

from __future__ import annotations

from sqlalchemy import Insert, Integer, Select, and_, case, cast, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.selectable import Subquery

from handoff.models import Conversation, Message, OwnershipEvent, State
from insights.buckets import SCORE_COUNTS, WAIT_COUNTS, epoch_hour_of, wait_bucket_conditions
from insights.models import ConversationHour, ConversationSummary, Survey
from insights.sql import epoch_hour, seconds_between

UNANSWERED_MARKS = ("clarify", "miss")
"""The bot's marks ("kb") on a question the knowledge base could not answer with confidence: it offered
choices, or it had nothing. Exactly the turns that keep an unanswered question for the editors."""


def _ownership_facts() -> Subquery:
    """Per conversation, from its ownership events: the first and last times of each state, whether
    it was escalated as a complaint, and the ids of the events that set its team and agent."""
    e = OwnershipEvent
    first = lambda state: func.min(case((e.to_state == state.value, e.at)))  # noqa: E731 - a one-line SQL shorthand
    last = lambda state: func.max(case((e.to_state == state.value, e.at)))  # noqa: E731 - a one-line SQL shorthand
    return (
        select(
            e.conversation_id.label("cid"),
            first(State.QUEUED).label("queued_at"),
            first(State.HUMAN).label("picked_at"),
            last(State.CLOSING).label("closing_at"),
            last(State.ENDED).label("ended_at"),
            last(State.ABANDONED).label("abandoned_at"),
            func.max(case((and_(e.to_state == State.QUEUED.value, e.reason == "complaint"), 1), else_=0)).label("complaint"),
            func.min(case((e.to_state == State.QUEUED.value, e.id))).label("first_queue_id"),
            func.max(case((e.to_state == State.QUEUED.value, e.id))).label("last_queue_id"),
            func.max(case((e.to_state == State.HUMAN.value, e.id))).label("last_pick_id"),
        )
        .group_by(e.conversation_id)
        .subquery("ev")
    )


def _message_facts() -> Subquery:
    """Per conversation, from its messages: the first agent reply the customer saw, and the bot's
    answers from the knowledge base and its misses."""
    m = Message
    kb = m.data["kb"].as_string()
    return (
        select(
            m.conversation_id.label("cid"),
            func.min(case((m.sender == "agent", m.created_at))).label("first_reply_at"),
            func.count(case((and_(m.sender == "bot", kb.is_not(None)), 1))).label("kb_asked"),
            func.count(case((and_(m.sender == "bot", kb.in_(UNANSWERED_MARKS)), 1))).label("kb_missed"),
        )
        .where(m.sender.in_(("agent", "bot")), ~((m.sender == "agent") & m.internal))
        .group_by(m.conversation_id)
        .subquery("said")
    )


def rebuild_statement(conversation_ids: list[str] | None = None, *, leave_out: tuple[str, ...] = ()) -> Insert:
    """``INSERT INTO conversation_summaries SELECT …``: every conversation's summary recomputed
    from its events, messages and survey (all conversations, or only ``conversation_ids``).
    ``leave_out`` names columns a migration's older table does not have yet."""
    c, e = Conversation, OwnershipEvent
    ev, said = _ownership_facts(), _message_facts()
    queue_event, pick_event, first_queue, later = aliased(e), aliased(e), aliased(e), aliased(c)
    next_started = (
        select(func.min(later.created_at))
        .where(later.channel == c.channel, later.customer_id == c.customer_id, later.created_at > c.created_at)
        .scalar_subquery()
    )
    resolved_at = func.coalesce(ev.c.closing_at, ev.c.ended_at)
    escalated = ev.c.queued_at.is_not(None)
    abandoned = ev.c.abandoned_at.is_not(None)
    picked = and_(ev.c.picked_at.is_not(None), ~abandoned)
    resolved = and_(resolved_at.is_not(None), ~abandoned)
    as_int = lambda cond: cast(case((cond, 1), else_=0), Integer)  # noqa: E731 - a one-line SQL shorthand
    handle = seconds_between(ev.c.picked_at, resolved_at)
    columns = {
        "conversation_id": c.id,
        "started_at": c.created_at,
        "channel": c.channel,
        "language": c.language,
        "team_id": queue_event.team_id,
        "agent_id": pick_event.agent_id,
        "escalation_reason": first_queue.reason,
        "complaint": func.coalesce(ev.c.complaint, 0),
        "queued_at": ev.c.queued_at,
        "picked_at": ev.c.picked_at,
        "first_reply_at": said.c.first_reply_at,
        "closing_at": ev.c.closing_at,
        "ended_at": ev.c.ended_at,
        "abandoned_at": ev.c.abandoned_at,
        "resolved_at": resolved_at,
        "kb_asked": func.coalesce(said.c.kb_asked, 0),
        "kb_missed": func.coalesce(said.c.kb_missed, 0),
        "surveyed": as_int(Survey.id.is_not(None)),
        "score": Survey.score,
        "ending": Survey.ending,
        "reason": Survey.reason,
        "next_started_at": next_started,
        "escalated": as_int(escalated),
        "abandoned": as_int(abandoned),
        "picked": as_int(picked),
        "resolved": as_int(resolved),
        "deflected": as_int(and_(resolved, ~escalated)),
        "wait_s": case((picked, seconds_between(ev.c.queued_at, ev.c.picked_at))),
        "first_response_s": case((escalated, seconds_between(ev.c.queued_at, said.c.first_reply_at))),
        "handle_s": case((and_(picked, handle >= 0), handle)),
        "resolution_s": case((resolved, seconds_between(c.created_at, resolved_at))),
        "returned_after_s": seconds_between(resolved_at, next_started),
    }
    columns = {name: value for name, value in columns.items() if name not in leave_out}
    query: Select = (
        select(*(value.label(name) for name, value in columns.items()))
        .select_from(c)
        .outerjoin(ev, ev.c.cid == c.id)
        .outerjoin(queue_event, queue_event.id == ev.c.last_queue_id)
        .outerjoin(first_queue, first_queue.id == ev.c.first_queue_id)
        .outerjoin(pick_event, pick_event.id == ev.c.last_pick_id)
        .outerjoin(said, said.c.cid == c.id)
        .outerjoin(Survey, Survey.conversation_id == c.id)
        # In start order, as the desk appends them: a period's summaries then sit together on disk,
        # so a report reads a few pages instead of one per conversation.
        .order_by(c.created_at)
    )
    if conversation_ids is not None:
        query = query.where(c.id.in_(conversation_ids))
    return insert(ConversationSummary).from_select(list(columns), query)


def rebuild_hours_statement(hours: list[int] | None = None) -> Insert:
    """``INSERT INTO conversation_hours SELECT …``: the hours' counts summed from the summaries
    (every hour, or only ``hours``)."""
    s = ConversationSummary
    hour = epoch_hour(s.started_at)
    score = s.score
    counts = {
        "conversations": func.count(),
        "escalated": func.sum(s.escalated),
        "deflected": func.sum(s.deflected),
        "answered": func.count(score),
        "promoters": func.count(case((score >= 9, 1))),
        "passives": func.count(case((score.between(7, 8), 1))),
        "detractors": func.count(case((score <= 6, 1))),
        **{name: func.count(case((score == k, 1))) for k, name in enumerate(SCORE_COUNTS)},
        **{name: func.count(case((cond, 1))) for name, cond in zip(WAIT_COUNTS, wait_bucket_conditions(s.wait_s))},
    }
    query = select(hour.label("hour"), *(value.label(name) for name, value in counts.items())).group_by(hour)
    if hours is not None:
        query = query.where(hour.in_(hours))
    return insert(ConversationHour).from_select(["hour", *counts], query)


async def rebuild_summaries(session: AsyncSession, conversation_ids: list[str] | None = None) -> int:
    """Replace the summaries (all, or of ``conversation_ids``) by a recomputation from the appended
    rows, and their hours' counts by a sum over the summaries; returns how many summaries were
    written. The backfill for data from before the summaries."""
    target = delete(ConversationSummary)
    hours_of_them: list[int] | None = None
    if conversation_ids is not None:
        target = target.where(ConversationSummary.conversation_id.in_(conversation_ids))
        # The hours of those conversations, in Python: their summaries are about to be replaced.
        starts = select(Conversation.created_at).where(Conversation.id.in_(conversation_ids))
        hours_of_them = sorted({epoch_hour_of(at) for at in (await session.execute(starts)).scalars()})
    await session.execute(target.execution_options(synchronize_session=False))
    await session.execute(rebuild_statement(conversation_ids))
    hours = delete(ConversationHour)
    if hours_of_them is not None:
        hours = hours.where(ConversationHour.hour.in_(hours_of_them))
    await session.execute(hours.execution_options(synchronize_session=False))
    await session.execute(rebuild_hours_statement(hours_of_them))
    written = select(func.count()).select_from(ConversationSummary)
    if conversation_ids is not None:
        written = written.where(ConversationSummary.conversation_id.in_(conversation_ids))
    return (await session.execute(written)).scalar_one()
