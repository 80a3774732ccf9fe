"""Writing articles: every change is one function here; the caller owns the transaction.

Every change appends a row to ``article_changes`` in the same transaction, so each hub process
(this one at once, the others within their next poll) updates its index after the commit.
Edits carry the version the editor started from (optimistic concurrency): a save on top of
someone else's newer version is refused with ``StaleVersion``, naming who saved in between.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable, Sequence
from datetime import timedelta

from sqlalchemy import Text, cast, delete, func, or_, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from kb_index.index import IndexedArticle, KnowledgeIndex
from kb_index.markdown import ArticleDraft, render_article_file
from kb_index.models import Article, ArticleChange, ArticleVersion, utcnow

ArticleKey = tuple[str, str]
CONTENT_FIELDS = ("title", "body", "team", "questions", "tags")


class ArticleError(Exception):
    """Base of the knowledge base's refusals; the message says what to do."""


class ArticleNotFound(ArticleError):
    """No article (or no such version of it) with this id and language."""


class DuplicateArticle(ArticleError):
    """An article with this id and language already exists."""


class StaleVersion(ArticleError):
    """Someone saved the article after the version the editor started from."""

    def __init__(self, article: Article, expected: int) -> None:
        when = article.updated_at.strftime("%Y-%m-%d %H:%M UTC") if article.updated_at else "?"
        super().__init__(
            f"{article.author} saved '{article.id}' ({article.lang}) as version {article.version} at {when}, "
            f"after the version {expected} you opened. Your text was not saved and is still in your form: "
            f"reload the article to see their change, then apply yours again."
        )
        self.current_version = article.version
        self.saved_by = article.author


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


def to_draft(article: Article) -> ArticleDraft:
    """The editable fields of a stored article (what the export writes)."""
    return ArticleDraft(
        id=article.id,
        lang=article.lang,
        title=article.title,
        body=article.body,
        team=article.team,
        questions=list(article.questions or []),
        tags=list(article.tags or []),
        status=article.status,
    )


# -- reading ------------------------------------------------------------------------------------


async def find_article(session: AsyncSession, article_id: str, lang: str) -> Article | None:
    """The article (id, lang), or None."""
    stmt = select(Article).where(Article.id == article_id, Article.lang == lang)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_article(session: AsyncSession, article_id: str, lang: str) -> Article:
    """The article (id, lang); raises ``ArticleNotFound``."""
    article = await find_article(session, article_id, lang)
    if article is None:
        raise ArticleNotFound(f"no article '{article_id}' in {lang}")
    return article


async def list_articles(
    session: AsyncSession,
    *,
    lang: str | None = None,
    team: str | None = None,
    status: str | None = None,
    text: str | None = None,
    suggested: bool | None = None,
    limit: int = 500,
) -> Sequence[Article]:
    """Articles matching every given filter (``text`` in id, title, body or questions), newest change first."""
    stmt = select(Article)
    if lang:
        stmt = stmt.where(Article.lang == lang)
    if team:
        stmt = stmt.where(Article.team == team)
    if status:
        stmt = stmt.where(Article.status == status)
    if suggested is not None:
        stmt = stmt.where(Article.suggested_by.is_not(None) if suggested else Article.suggested_by.is_(None))
    if text:
        like = f"%{text.lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(Article.id).like(like),
                func.lower(Article.title).like(like),
                func.lower(Article.body).like(like),
                func.lower(cast(Article.questions, Text)).like(like),
            )
        )
    stmt = stmt.order_by(Article.updated_at.desc(), Article.id, Article.lang).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def published_articles(session: AsyncSession) -> Sequence[Article]:
    """Every published article, in every language."""
    stmt = select(Article).where(Article.status == "published").order_by(Article.id, Article.lang)
    return (await session.execute(stmt)).scalars().all()


async def all_articles(session: AsyncSession) -> Sequence[Article]:
    """Every article, drafts included, by id and language (what the export writes)."""
    return (await session.execute(select(Article).order_by(Article.id, Article.lang))).scalars().all()


async def article_versions(session: AsyncSession, article_id: str, lang: str) -> Sequence[ArticleVersion]:
    """The article's versions, newest first."""
    article = await get_article(session, article_id, lang)
    stmt = select(ArticleVersion).where(ArticleVersion.article_pk == article.pk).order_by(ArticleVersion.version.desc())
    return (await session.execute(stmt)).scalars().all()


async def _version(session: AsyncSession, article: Article, version: int) -> ArticleVersion:
    stmt = select(ArticleVersion).where(ArticleVersion.article_pk == article.pk, ArticleVersion.version == version)
    found = (await session.execute(stmt)).scalar_one_or_none()
    if found is None:
        raise ArticleNotFound(f"'{article.id}' ({article.lang}) has no version {version} (it has 1 to {article.version})")
    return found


def snapshot_text(snapshot: dict) -> str:
    """A version as its Markdown file, the form in which versions are compared."""
    return render_article_file(
        ArticleDraft(**{k: snapshot[k] for k in ("id", "lang", *CONTENT_FIELDS)}, status=snapshot.get("status", "published"))
    )


async def diff_versions(session: AsyncSession, article_id: str, lang: str, old: int, new: int) -> str:
    """A unified diff (difflib) between two versions of the article, as their Markdown files."""
    article = await get_article(session, article_id, lang)
    a, b = await _version(session, article, old), await _version(session, article, new)
    lines = difflib.unified_diff(
        snapshot_text(a.snapshot).splitlines(keepends=True),
        snapshot_text(b.snapshot).splitlines(keepends=True),
        fromfile=f"version {old} ({a.author})",
        tofile=f"version {new} ({b.author})",
    )
    return "".join(lines)


# -- writing ------------------------------------------------------------------------------------


def _record_change(session: AsyncSession, article_id: str, lang: str) -> None:
    session.add(ArticleChange(article_id=article_id, lang=lang, at=utcnow()))


def _fields(article: Article) -> dict:
    return {"id": article.id, "lang": article.lang, **{k: getattr(article, k) for k in CONTENT_FIELDS}, "status": article.status}


async def _new_version(session: AsyncSession, article: Article, *, author: str, bump: bool = True) -> Article:
    if bump:
        article.version += 1
    article.author = author
    article.updated_at = utcnow()
    await session.flush()
    session.add(
        ArticleVersion(
            article_pk=article.pk, version=article.version, snapshot=_fields(article), author=author, at=article.updated_at
        )
    )
    _record_change(session, article.id, article.lang)
    await session.flush()
    return article


def _check_version(article: Article, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != article.version:
        raise StaleVersion(article, expected_version)


async def create_article(session: AsyncSession, draft: ArticleDraft, *, author: str, suggested_by: str | None = None) -> Article:
    """A new article, stored as a draft (publish it with ``publish``). ``suggested_by`` marks an
    agent's suggestion for an editor to review. Raises ``DuplicateArticle``."""
    existing = await find_article(session, draft.id, draft.lang)
    if existing is not None:
        raise DuplicateArticle(
            f"an article '{draft.id}' in {draft.lang} already exists (version {existing.version} by {existing.author}); "
            "choose another id or edit that one"
        )
    fields = {k: getattr(draft, k) for k in CONTENT_FIELDS}
    article = Article(
        id=draft.id,
        lang=draft.lang,
        **fields,
        status="draft",
        author=author,
        version=1,
        updated_at=utcnow(),
        suggested_by=suggested_by,
    )
    session.add(article)
    await session.flush()
    return await _new_version(session, article, author=author, bump=False)


async def update_article(
    session: AsyncSession, article_id: str, lang: str, draft: ArticleDraft, *, expected_version: int, author: str
) -> Article:
    """Save new text of the article (a new version). A published article stays published, so the
    bot answers with the new text at once. Raises ``StaleVersion`` when ``expected_version`` is not
    the current one (someone saved in between: nothing of theirs is overwritten)."""
    article = await get_article(session, article_id, lang)
    _check_version(article, expected_version)
    fields = {k: getattr(draft, k) for k in CONTENT_FIELDS}
    if all(getattr(article, k) == v for k, v in fields.items()):
        return article
    for key, value in fields.items():
        setattr(article, key, value)
    return await _new_version(session, article, author=author)


async def _set_status(
    session: AsyncSession, article_id: str, lang: str, status: str, *, author: str, expected_version: int | None
) -> Article:
    article = await get_article(session, article_id, lang)
    _check_version(article, expected_version)
    if article.status == status:
        return article
    article.status = status
    return await _new_version(session, article, author=author)


async def publish(
    session: AsyncSession, article_id: str, lang: str, *, author: str, expected_version: int | None = None
) -> Article:
    """The bot answers with the article from now on (on every hub process, within a second)."""
    return await _set_status(session, article_id, lang, "published", author=author, expected_version=expected_version)


async def unpublish(
    session: AsyncSession, article_id: str, lang: str, *, author: str, expected_version: int | None = None
) -> Article:
    """Back to draft: kept with its history, no longer answered with."""
    return await _set_status(session, article_id, lang, "draft", author=author, expected_version=expected_version)


async def delete_article(session: AsyncSession, article_id: str, lang: str, *, expected_version: int | None = None) -> None:
    """Delete the article and its history (unpublish keeps them)."""
    article = await get_article(session, article_id, lang)
    _check_version(article, expected_version)
    await session.execute(delete(ArticleVersion).where(ArticleVersion.article_pk == article.pk))
    await session.delete(article)
    _record_change(session, article_id, lang)
    await session.flush()


async def revert_article(
    session: AsyncSession, article_id: str, lang: str, version: int, *, author: str, expected_version: int | None = None
) -> Article:
    """Bring back the text of an earlier version, as a new version (history is never rewritten).
    The status stays as it is."""
    article = await get_article(session, article_id, lang)
    _check_version(article, expected_version)
    old = await _version(session, article, version)
    for key in CONTENT_FIELDS:
        setattr(article, key, old.snapshot[key])
    return await _new_version(session, article, author=author)


async def publish_article(session: AsyncSession, draft: ArticleDraft, *, author: str) -> tuple[Article, bool]:
    """Create or update the article (id, lang) as published (what imports do), keeping a version
    snapshot. Returns the article and whether anything changed."""
    return await _save(session, draft, author=author, status="published")


async def save_draft(session: AsyncSession, draft: ArticleDraft, *, author: str) -> tuple[Article, bool]:
    """Create or update the article as a draft: stored and versioned, not answered with."""
    return await _save(session, draft, author=author, status="draft")


async def _save(session: AsyncSession, draft: ArticleDraft, *, author: str, status: str) -> tuple[Article, bool]:
    article = await find_article(session, draft.id, draft.lang)
    fields = {k: getattr(draft, k) for k in CONTENT_FIELDS}
    if article is None:
        article = Article(id=draft.id, lang=draft.lang, **fields, status=status, author=author, version=1, updated_at=utcnow())
        session.add(article)
        await session.flush()
        return await _new_version(session, article, author=author, bump=False), True
    if all(getattr(article, k) == v for k, v in fields.items()) and article.status == status:
        return article, False
    for key, value in fields.items():
        setattr(article, key, value)
    article.status = status
    return await _new_version(session, article, author=author), True


# -- keeping every process's index in step --------------------------------------------------


async def last_change_seq(session: AsyncSession) -> int:
    """The sequence number of the newest change (0 when there is none)."""
    return int((await session.execute(select(func.max(ArticleChange.seq)))).scalar_one() or 0)


async def prune_changes(session: AsyncSession, *, older_than: timedelta) -> int:
    """Delete change-log rows older than ``older_than`` (every running hub applied them long ago;
    a hub that starts loads the published articles, not the log). The newest row always stays:
    SQLite would otherwise hand its sequence number out again, and a hub that had applied it
    would skip the next change. Returns how many rows went."""
    newest = await last_change_seq(session)
    stmt = delete(ArticleChange).where(ArticleChange.at < utcnow() - older_than, ArticleChange.seq < newest)
    # A DML statement's result is a CursorResult (it has the row count); execute() is typed for any statement.
    return typing.cast(CursorResult, await session.execute(stmt)).rowcount or 0


async def changes_after(session: AsyncSession, seq: int, *, limit: int = 1000) -> Sequence[ArticleChange]:
    """Changes appended after ``seq``, oldest first."""
    stmt = select(ArticleChange).where(ArticleChange.seq > seq).order_by(ArticleChange.seq).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def indexable(session: AsyncSession, keys: Iterable[ArticleKey]) -> dict[ArticleKey, IndexedArticle | None]:
    """What the index must hold for each changed article: its published text, or None (unpublished or deleted)."""
    out: dict[ArticleKey, IndexedArticle | None] = {}
    for article_id, lang in set(keys):
        article = await find_article(session, article_id, lang)
        out[(article_id, lang)] = to_indexed(article) if article is not None and article.status == "published" else None
    return out


def apply_to_index(index: KnowledgeIndex, wanted: dict[ArticleKey, IndexedArticle | None]) -> int:
    """Upsert or remove the changed articles in ``index`` (only those that differ). Encodes: run it
    off the event loop. Returns how many articles changed in the index."""
    current = {a.key: a for a in index.articles()}
    upserts = [a for key, a in wanted.items() if a is not None and current.get(key) != a]
    removals = [key for key, a in wanted.items() if a is None and key in current]
    for key in removals:
        index.remove(*key)
    if upserts:
        index.upsert(upserts)
    return len(upserts) + len(removals)
