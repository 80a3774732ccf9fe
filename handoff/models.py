"""Tables owned by handoff: staff users and teams, conversations, their messages and ownership events."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.models import TYPE_ANNOTATION_MAP, package_metadata, utcnow


class Base(DeclarativeBase):
    """The declarative base of handoff's tables (their own metadata)."""

    metadata = package_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


class State(str, enum.Enum):
    """Who owns a conversation. Only the functions in ``handoff.conversations`` change it."""

    BOT = "bot"
    QUEUED = "queued"
    HUMAN = "human"
    CLOSING = "closing"  # the ending (NPS) runs in Rasa; the bot owns the chat again
    ENDED = "ended"
    ABANDONED = "abandoned"


class Role(str, enum.Enum):
    AGENT = "agent"
    EDITOR = "editor"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Priority(int, enum.Enum):
    """Higher is served first."""

    LOW_CONFIDENCE = 10
    REQUEST = 20
    FAILURE = 30
    COMPLAINT = 40


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(60), default="America/Sao_Paulo")
    # {"mon": ["08:00", "20:00"], ...}; a missing day is closed; None means always open.
    hours: Mapped[dict | None] = mapped_column(JSON, default=None)
    holidays: Mapped[list] = mapped_column(JSON, default=list)  # ["2026-12-25", ...], closed all day
    sla_seconds: Mapped[int] = mapped_column(Integer, default=60)  # pick-up target...
    sla_target: Mapped[float] = mapped_column(Float, default=0.8)  # ...for this share of chats
    assignment: Mapped[str] = mapped_column(String(10), default="pick")  # pick | auto
    # A claimed chat its agent has not answered within this many seconds goes back to the head of
    # the queue (``handoff.return_unanswered_claim``); None: never (the default, so no desk changes
    # behaviour on upgrade).
    claim_answer_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    # An archived team is kept (its history, the KPIs and the audit log name it) but no longer offered:
    # chats for it go to ``moved_to``, the team its queue was moved to when it was archived.
    archived_at: Mapped[datetime | None] = mapped_column(default=None)
    moved_to: Mapped[str | None] = mapped_column(String(40), default=None)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default=Role.AGENT.value)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(10), default="offline")  # online | away | offline
    # Who set the status: "agent" (their choice, kept) or "presence" (the console closed; undone
    # when a console opens again, on whichever hub process that happens).
    status_by: Mapped[str] = mapped_column(String(10), default="agent", server_default="agent")
    capacity: Mapped[int] = mapped_column(Integer, default=3)  # chats at once
    last_assigned_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A session cookie carries the value this had when it was issued; logging out, a password change
    # or reset, deactivation and a role change add one, so every copy of every older cookie is refused.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A password someone else saw (generated and printed, or reset by an admin): it must be replaced
    # before anything else is allowed.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class TeamMember(Base):
    __tablename__ = "team_members"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)


class Conversation(Base):
    __tablename__ = "conversations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    customer_name: Mapped[str | None] = mapped_column(String(120), default=None)
    language: Mapped[str] = mapped_column(String(8))
    # Stored as the states' values ("bot", "queued", ...) in a VARCHAR(12), as before it was an Enum.
    state: Mapped[State] = mapped_column(
        Enum(State, native_enum=False, values_callable=lambda states: [s.value for s in states], length=12),
        default=State.BOT,
    )
    team_id: Mapped[str | None] = mapped_column(String(40), default=None)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    escalation_reason: Mapped[str | None] = mapped_column(String(40), default=None)
    queued_at: Mapped[datetime | None] = mapped_column(default=None)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_customer_at: Mapped[datetime | None] = mapped_column(default=None)
    last_message_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        Index("ix_conversations_queue", "state", "team_id", "priority", "queued_at"),
        # Reports select conversations by start time, and look for a customer's next conversation.
        Index("ix_conversations_created_at", "created_at"),
        Index("ix_conversations_returning", "channel", "customer_id", "created_at"),
    )


class Message(Base):
    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    sender: Mapped[str] = mapped_column(String(10))  # customer | bot | agent | system
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    text: Mapped[str] = mapped_column(Text)
    buttons: Mapped[list | None] = mapped_column(JSON, default=None)
    data: Mapped[dict | None] = mapped_column(JSON, default=None)  # e.g. the article the bot used
    channel: Mapped[str] = mapped_column(String(20))
    channel_message_id: Mapped[str | None] = mapped_column(String(128), default=None)
    internal: Mapped[bool] = mapped_column(Boolean, default=False)  # a private note: never shown to the customer
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("channel", "channel_message_id", name="uq_messages_channel_message_id"),
        Index("ix_messages_created_at", "created_at"),  # reports read a period's messages
    )


class CannedResponse(Base):
    """A reply an agent inserts with ``/shortcut``; ``{customer_name}`` and ``{agent_name}`` are filled in."""

    __tablename__ = "canned_responses"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shortcut: Mapped[str] = mapped_column(String(40))
    lang: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    team_id: Mapped[str | None] = mapped_column(String(40), default=None)  # None: every team

    __table_args__ = (UniqueConstraint("shortcut", "lang", name="uq_canned_responses_shortcut_lang"),)


class OwnershipEvent(Base):
    """Appended on every ownership change: the KPIs are computed from these rows."""

    __tablename__ = "ownership_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(40))  # "bot", "customer", "system" or "agent:<id>"
    from_state: Mapped[str] = mapped_column(String(12))
    to_state: Mapped[str] = mapped_column(String(12))
    team_id: Mapped[str | None] = mapped_column(String(40), default=None)
    agent_id: Mapped[int | None] = mapped_column(Integer, default=None)
    reason: Mapped[str | None] = mapped_column(String(40), default=None)

    __table_args__ = (
        Index("ix_ownership_events_at", "at"),  # reports read a period's events
        Index("ix_ownership_events_team", "team_id", "id"),  # a team's recent hand-overs (queue.recent_handle_seconds)
    )


class Invitation(Base):
    """A link that lets a new (or reset) staff user set their own password once: only the SHA-256
    of its token is stored, so the table alone opens nobody's account."""

    __tablename__ = "invitations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)  # also set when a newer link replaces it
