"""Tables owned by insights: the NPS survey of each conversation and the follow-up of detractors."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.models import TYPE_ANNOTATION_MAP, package_metadata, utcnow


class Base(DeclarativeBase):
    """The declarative base of insights' tables (their own metadata)."""

    metadata = package_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


class Survey(Base):
    """One NPS survey per conversation (the unique conversation id enforces it)."""

    __tablename__ = "surveys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(36), unique=True)
    channel: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(8))
    team_id: Mapped[str | None] = mapped_column(String(40), default=None)
    agent_id: Mapped[int | None] = mapped_column(Integer, default=None)
    bot_only: Mapped[bool] = mapped_column(Boolean, default=True)
    ending: Mapped[str] = mapped_column(String(20))  # resolved | goodbye | agent_closed | inactivity | window_closing
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    score: Mapped[int | None] = mapped_column(Integer, default=None)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (Index("ix_surveys_asked_at", "asked_at"),)


class FollowUp(Base):
    """A detractor to call back: opened when a 0–6 score arrives, claimed by one agent, then done."""

    __tablename__ = "follow_ups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(36), unique=True)
    team_id: Mapped[str | None] = mapped_column(String(40), default=None)
    score: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[int | None] = mapped_column(Integer, default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    done_at: Mapped[datetime | None] = mapped_column(default=None)
    outcome: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (Index("ix_follow_ups_open", "done_at", "team_id", "created_at"),)


class ConversationSummary(Base):
    """One row per conversation, folded from its appended rows as they are appended
    (``insights.summaries``): what the KPIs aggregate. Never edited by hand; rebuilt from the events
    by ``balcao insights rebuild``."""

    __tablename__ = "conversation_summaries"
    conversation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    started_at: Mapped[datetime] = mapped_column()
    channel: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(8))
    team_id: Mapped[str | None] = mapped_column(String(40), default=None)
    agent_id: Mapped[int | None] = mapped_column(Integer, default=None)
    escalation_reason: Mapped[str | None] = mapped_column(String(40), default=None)
    complaint: Mapped[int] = mapped_column(Integer, default=0)
    queued_at: Mapped[datetime | None] = mapped_column(default=None)
    picked_at: Mapped[datetime | None] = mapped_column(default=None)
    first_reply_at: Mapped[datetime | None] = mapped_column(default=None)
    closing_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    abandoned_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    kb_asked: Mapped[int] = mapped_column(Integer, default=0)
    kb_missed: Mapped[int] = mapped_column(Integer, default=0)
    surveyed: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[int | None] = mapped_column(Integer, default=None)
    ending: Mapped[str | None] = mapped_column(String(20), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    next_started_at: Mapped[datetime | None] = mapped_column(default=None)
    # Derived from the columns above (0/1 flags and seconds), so reports only sum and count.
    escalated: Mapped[int] = mapped_column(Integer, default=0)
    abandoned: Mapped[int] = mapped_column(Integer, default=0)
    picked: Mapped[int] = mapped_column(Integer, default=0)
    resolved: Mapped[int] = mapped_column(Integer, default=0)
    deflected: Mapped[int] = mapped_column(Integer, default=0)
    wait_s: Mapped[float | None] = mapped_column(Float, default=None)
    first_response_s: Mapped[float | None] = mapped_column(Float, default=None)
    handle_s: Mapped[float | None] = mapped_column(Float, default=None)
    resolution_s: Mapped[float | None] = mapped_column(Float, default=None)
    returned_after_s: Mapped[float | None] = mapped_column(Float, default=None)

    # The dashboard's filters: a period of start times, alone or with one channel, team, agent or language.
    __table_args__ = (
        Index("ix_conversation_summaries_started_at", "started_at"),
        Index("ix_conversation_summaries_channel", "channel", "started_at"),
        Index("ix_conversation_summaries_team", "team_id", "started_at"),
        Index("ix_conversation_summaries_agent", "agent_id", "started_at"),
        Index("ix_conversation_summaries_language", "language", "started_at"),
        # The two parts of the page that read a fraction of the period: detractors' reasons, and the
        # handled conversations behind agents' occupancy (covering, so PostgreSQL reads the index only).
        Index(
            "ix_conversation_summaries_detractors",
            "started_at",
            postgresql_where=text("score <= 6 AND reason IS NOT NULL"),
            sqlite_where=text("score <= 6 AND reason IS NOT NULL"),
        ),
        Index(
            "ix_conversation_summaries_handled",
            "started_at",
            postgresql_include=["agent_id", "picked_at", "handle_s"],
            postgresql_where=text("handle_s IS NOT NULL"),
            sqlite_where=text("handle_s IS NOT NULL"),
        ),
    )


class ConversationHour(Base):
    """Per UTC hour of start, what the dashboard's daily series and heatmap count over every
    conversation started in it: kept with the summaries (``insights.summaries``: each change of a
    summary moves its counts), so a report without filters reads 24 rows a day instead of every
    summary. Rebuilt from the summaries with them."""

    __tablename__ = "conversation_hours"
    hour: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # hours since 1970-01-01 00:00 UTC
    conversations: Mapped[int] = mapped_column(Integer, default=0)
    escalated: Mapped[int] = mapped_column(Integer, default=0)
    deflected: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    promoters: Mapped[int] = mapped_column(Integer, default=0)
    passives: Mapped[int] = mapped_column(Integer, default=0)
    detractors: Mapped[int] = mapped_column(Integer, default=0)
    # Answers per score.
    score_0: Mapped[int] = mapped_column(Integer, default=0)
    score_1: Mapped[int] = mapped_column(Integer, default=0)
    score_2: Mapped[int] = mapped_column(Integer, default=0)
    score_3: Mapped[int] = mapped_column(Integer, default=0)
    score_4: Mapped[int] = mapped_column(Integer, default=0)
    score_5: Mapped[int] = mapped_column(Integer, default=0)
    score_6: Mapped[int] = mapped_column(Integer, default=0)
    score_7: Mapped[int] = mapped_column(Integer, default=0)
    score_8: Mapped[int] = mapped_column(Integer, default=0)
    score_9: Mapped[int] = mapped_column(Integer, default=0)
    score_10: Mapped[int] = mapped_column(Integer, default=0)
    # Picked-up waits per bucket of insights.summaries.WAIT_BUCKETS (the last: above its last bound).
    wait_bucket_0: Mapped[int] = mapped_column(Integer, default=0)
    wait_bucket_1: Mapped[int] = mapped_column(Integer, default=0)
    wait_bucket_2: Mapped[int] = mapped_column(Integer, default=0)
    wait_bucket_3: Mapped[int] = mapped_column(Integer, default=0)
    wait_bucket_4: Mapped[int] = mapped_column(Integer, default=0)
    wait_bucket_5: Mapped[int] = mapped_column(Integer, default=0)
    wait_bucket_6: Mapped[int] = mapped_column(Integer, default=0)
    wait_bucket_7: Mapped[int] = mapped_column(Integer, default=0)
