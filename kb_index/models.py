"""Tables owned by kb_index: articles, their version history, the change log every hub process
follows, and the questions the knowledge base could not answer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.models import TYPE_ANNOTATION_MAP, package_metadata, utcnow


class Base(DeclarativeBase):
    """The declarative base of kb_index's tables (their own metadata)."""

    metadata = package_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


class Article(Base):
    __tablename__ = "articles"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(80))  # shared by an article's translations
    lang: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    questions: Mapped[list] = mapped_column(JSON, default=list)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    team: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12), default="draft")  # draft | published
    author: Mapped[str] = mapped_column(String(120))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # An agent's suggestion waiting for an editor: who suggested it (None for editors' articles).
    suggested_by: Mapped[str | None] = mapped_column(String(120), nullable=True, default=None)

    __table_args__ = (UniqueConstraint("id", "lang", name="uq_articles_id_lang"),)


class ArticleVersion(Base):
    __tablename__ = "article_versions"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_pk: Mapped[int] = mapped_column(ForeignKey("articles.pk", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict] = mapped_column(JSON)
    author: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ArticleChange(Base):
    """Appended in the transaction of every change to an article: each hub process reads the rows
    after the last one it applied and updates its own index (so a publish reaches every replica)."""

    __tablename__ = "article_changes"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[str] = mapped_column(String(80))
    lang: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class UnansweredQuestion(Base):
    """A customer question the knowledge base did not answer with confidence (clarify or escalate)."""

    __tablename__ = "unanswered_questions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(20))
    conversation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    customer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decision: Mapped[str] = mapped_column(String(12))  # clarify | escalate
    confidence: Mapped[float] = mapped_column(Float)
    best_article: Mapped[str | None] = mapped_column(String(80), nullable=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set once a published article answers the question (``settle_unanswered``): it leaves the
    # editors' list, and stays for the record.
    answered_by: Mapped[str | None] = mapped_column(String(80), nullable=True, default=None)
    answered_at: Mapped[datetime | None] = mapped_column(nullable=True, default=None)

    __table_args__ = (Index("ix_unanswered_questions_at", "at"),)


class CandidateQuestion(Base):
    """A customer's question that use suggests an article answers — the customer confirmed the
    answer, chose the article among the offered options, or an agent's reply to it was promoted to
    an article — waiting for an editor. Approved, it becomes one of the article's alternative
    questions (``kb_index.learning``)."""

    __tablename__ = "kb_candidate_questions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String(500))
    lang: Mapped[str] = mapped_column(String(8))
    article_id: Mapped[str] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(12))  # confirmed | chosen | promoted
    conversation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    state: Mapped[str] = mapped_column(String(12), default="pending")  # pending | approved | rejected
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(120), nullable=True, default=None)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True, default=None)

    __table_args__ = (
        # The same question for the same article is proposed once, however often it is asked.
        UniqueConstraint("article_id", "lang", "text", name="uq_kb_candidate_questions_article_text"),
        Index("ix_kb_candidate_questions_state", "state", "created_at"),
    )


class StoredCalibration(Base):
    """Thresholds fitted by a hub (``kb_index.refit``), read by every hub process: the newest row
    of an encoder is the calibration the bot decides by. ``versions`` is how many article versions
    existed when it was fitted (what the next refit counts growth from)."""

    __tablename__ = "kb_calibrations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    encoder: Mapped[str] = mapped_column(String(200))
    parameters: Mapped[dict] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(20))  # file (the shipped one, the baseline) | kb_alone
    versions: Mapped[int] = mapped_column(Integer)
    fitted_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_kb_calibrations_encoder", "encoder", "id"),)
