"""Writing articles: every change is one function here; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kb_index.index import IndexedArticle
from kb_index.markdown import ArticleDraft
from kb_index.models import Article, ArticleVersion, utcnow


def to_indexed(article: Article) -> IndexedArticle:
    """What the search index needs of a stored article."""
    return IndexedArticle(
        id=article.id,
        lang=article.lang,
        title=article.title,
        body=article.body,
        questions=tuple(article.questions or ()),
        team=article.team,
    )


async def publish_article(session: AsyncSession, draft: ArticleDraft, *, author: str) -> tuple[Article, bool]:
    """Create or update the article (id, lang) as published (the bot answers with it), keeping a
    version snapshot. Returns the article and whether anything changed."""
    return await _save(session, draft, author=author, status="published")


async def save_draft(session: AsyncSession, draft: ArticleDraft, *, author: str) -> tuple[Article, bool]:
    """Create or update the article as a draft: stored and versioned, not answered with."""
    return await _save(session, draft, author=author, status="draft")


async def _save(session: AsyncSession, draft: ArticleDraft, *, author: str, status: str) -> tuple[Article, bool]:
    stmt = select(Article).where(Article.id == draft.id, Article.lang == draft.lang)
    article = (await session.execute(stmt)).scalar_one_or_none()
    fields = asdict(draft)
    fields["status"] = status
    if article is None:
        article = Article(**fields, author=author, version=1, updated_at=utcnow())
        session.add(article)
    else:
        current = {k: getattr(article, k) for k in fields}
        if current == fields:
            return article, False
        for key, value in fields.items():
            setattr(article, key, value)
        article.version += 1
        article.author = author
        article.updated_at = utcnow()
    await session.flush()
    session.add(ArticleVersion(article_pk=article.pk, version=article.version, snapshot=fields, author=author, at=utcnow()))
    await session.flush()
    return article, True


async def published_articles(session: AsyncSession) -> Sequence[Article]:
    """Every published article, in every language."""
    stmt = select(Article).where(Article.status == "published").order_by(Article.id, Article.lang)
    return (await session.execute(stmt)).scalars().all()
