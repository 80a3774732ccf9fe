"""Tables owned by insights: the NPS survey of each conversation and the follow-up of detractors."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.models import package_base, utcnow

Base = package_base()


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
    ending: Mapped[str] = mapped_column(String(20))  # resolved | goodbye | agent_closed | inactivity
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
