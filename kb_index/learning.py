"""Learning from use: customers' questions that use suggests an article answers become candidate
questions; an editor approves or rejects each. Approved, a question becomes one of the article's
alternative questions (a new version of the article): the index answers it at once on every hub,
and ``balcao kb tune`` and the calibration learn from it with the article's other questions.

Where candidates come from (``SOURCES``): the customer confirmed the answer ("yes, it solved it"),
chose the article among the options the bot offered, or asked it in the stretch of a conversation
whose agent's reply was promoted to an article. Every change is one function here; the caller owns
the transaction.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kb_index.articles import ArticleError, find_article, get_article, to_draft, update_article
from kb_index.models import Article, CandidateQuestion, utcnow
from kb_index.text import language_family

SOURCES = ("confirmed", "chosen", "promoted")
MAX_CHARS = 500  # longer is no question an article would list (and the column's width)
MIN_CHARS = 3  # "ok", "?" and the like teach nothing


class CandidateError(ArticleError):
    """Base of the refusals about candidate questions; the message says what to do."""


class CandidateNotFound(CandidateError):
    """No candidate question with this id."""


class CandidateDecided(CandidateError):
    """Someone approved or rejected the candidate already."""

    def __init__(self, candidate: CandidateQuestion) -> None:
        super().__init__(
            f"this question was {candidate.state} by {candidate.decided_by} already; reload the list to see what is left"
        )
        self.state = candidate.state


@dataclass(frozen=True)
class CandidateView:
    """A pending candidate as the editors' page lists it, with its article's title."""

    id: int
    text: str
    lang: str
    article_id: str
    article_title: str
    article_status: str
    source: str
    created_at: datetime


def _clean(text: str) -> str:
    return " ".join(text.split())[:MAX_CHARS]


async def _article_for(session: AsyncSession, article_id: str, lang: str) -> Article | None:
    """The article in ``lang``, else in the same language family (pt-BR for a pt-PT chat), else None."""
    exact = await find_article(session, article_id, lang)
    if exact is not None:
        return exact
    rows = (await session.execute(select(Article).where(Article.id == article_id).order_by(Article.lang))).scalars().all()
    return next((a for a in rows if language_family(a.lang) == language_family(lang)), None)


async def propose_question(
    session: AsyncSession, *, text: str, lang: str, article_id: str, source: str, conversation_id: str | None = None
) -> CandidateQuestion | None:
    """Keep ``text`` as a candidate question of the article for an editor. Nothing is kept (None)
    when there is nothing to learn: a too short text, an article that does not exist in the
    language's family, a question the article already has, or one already proposed for it. Safe in
    a customer's turn: a concurrent proposal of the same question is not an error."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}")
    text = _clean(text)
    if len(text) < MIN_CHARS:
        return None
    article = await _article_for(session, article_id, lang)
    if article is None:
        return None
    known = {q.casefold() for q in [article.title, *(article.questions or [])]}
    if text.casefold() in known:
        return None
    exists = select(CandidateQuestion.id).where(
        CandidateQuestion.article_id == article.id, CandidateQuestion.lang == article.lang, CandidateQuestion.text == text
    )
    if (await session.execute(exists)).first() is not None:
        return None
    candidate = CandidateQuestion(
        text=text,
        lang=article.lang,
        article_id=article.id,
        source=source,
        conversation_id=conversation_id,
        state="pending",
        created_at=utcnow(),
    )
    try:
        async with session.begin_nested():  # a savepoint: losing a race must not undo the caller's work
            session.add(candidate)
    except IntegrityError:
        return None  # another hub proposed the same question meanwhile
    return candidate


async def _decide(session: AsyncSession, candidate_id: int, state: str, *, editor: str) -> CandidateQuestion:
    """Compare-and-set pending → ``state``: of two editors deciding at once, one wins, the other is told."""
    stmt = (
        update(CandidateQuestion)
        .where(CandidateQuestion.id == candidate_id, CandidateQuestion.state == "pending")
        .values(state=state, decided_by=editor, decided_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    # A DML statement's result is a CursorResult (it has the row count); execute() is typed for any statement.
    changed = typing.cast(CursorResult, await session.execute(stmt)).rowcount
    candidate = await session.get(CandidateQuestion, candidate_id, populate_existing=True)
    if candidate is None:
        raise CandidateNotFound(f"there is no candidate question {candidate_id}; reload the list")
    if not changed:
        raise CandidateDecided(candidate)
    return candidate


async def approve_question(session: AsyncSession, candidate_id: int, *, editor: str) -> tuple[CandidateQuestion, Article]:
    """The candidate becomes an alternative question of its article (a new version by ``editor``;
    a published article answers it as soon as the caller commits). Raises ``CandidateNotFound``,
    ``CandidateDecided``, or ``ArticleNotFound`` when its article was deleted meanwhile (nothing
    changes then: reject it instead)."""
    candidate = await _decide(session, candidate_id, "approved", editor=editor)
    article = await get_article(session, candidate.article_id, candidate.lang)
    if candidate.text.casefold() not in {q.casefold() for q in article.questions or []}:
        draft = to_draft(article)
        draft.questions = [*draft.questions, candidate.text]
        article = await update_article(session, article.id, article.lang, draft, expected_version=article.version, author=editor)
    return candidate, article


async def reject_question(session: AsyncSession, candidate_id: int, *, editor: str) -> CandidateQuestion:
    """The candidate is not a question of its article: kept as rejected (never proposed again)."""
    return await _decide(session, candidate_id, "rejected", editor=editor)


async def pending_questions(session: AsyncSession, *, lang: str | None = None, limit: int = 200) -> list[CandidateView]:
    """The candidates waiting for an editor, oldest first, with their articles' titles."""
    stmt = (
        select(CandidateQuestion, Article.title, Article.status)
        .join(Article, (Article.id == CandidateQuestion.article_id) & (Article.lang == CandidateQuestion.lang))
        .where(CandidateQuestion.state == "pending")
        .order_by(CandidateQuestion.created_at, CandidateQuestion.id)
        .limit(limit)
    )
    if lang:
        stmt = stmt.where(CandidateQuestion.lang == lang)
    return [
        CandidateView(c.id, c.text, c.lang, c.article_id, title, status, c.source, c.created_at)
        for c, title, status in (await session.execute(stmt)).all()
    ]


async def pending_count(session: AsyncSession) -> int:
    """How many candidates wait for an editor."""
    stmt = select(func.count()).select_from(CandidateQuestion).where(CandidateQuestion.state == "pending")
    return int((await session.execute(stmt)).scalar_one())


async def approved_questions(session: AsyncSession) -> Sequence[CandidateQuestion]:
    """Every approved candidate (what use taught the knowledge base), newest first."""
    stmt = select(CandidateQuestion).where(CandidateQuestion.state == "approved").order_by(CandidateQuestion.decided_at.desc())
    return (await session.execute(stmt)).scalars().all()
