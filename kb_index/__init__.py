"""Knowledge base: articles, encoders, the hybrid index, search and the answer decision."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from kb_index.articles import (
    ArticleError,
    ArticleNotFound,
    DuplicateArticle,
    StaleVersion,
    all_articles,
    apply_to_index,
    article_versions,
    changes_after,
    create_article,
    delete_article,
    diff_versions,
    find_article,
    get_article,
    indexable,
    last_change_seq,
    list_articles,
    prune_changes,
    publish,
    publish_article,
    published_articles,
    revert_article,
    save_draft,
    to_draft,
    to_indexed,
    unpublish,
    update_article,
)
from kb_index.encoders import Encoder, EncoderNotAvailable, get_encoder
from kb_index.index import KnowledgeIndex
from kb_index.learning import (
    CandidateDecided,
    CandidateError,
    CandidateNotFound,
    CandidateView,
    approve_question,
    approved_questions,
    pending_count,
    pending_questions,
    propose_question,
    reject_question,
)
from kb_index.markdown import (
    LANGUAGES,
    ArticleDraft,
    ArticleFileError,
    check_article,
    export_path,
    load_kb_dir,
    read_article_values,
    render_article_file,
)
from kb_index.models import Article, ArticleVersion, CandidateQuestion, UnansweredQuestion
from kb_index.passages import EmbeddingCache
from kb_index.records import Calibration, Decision, Hit, IndexedArticle, NotCalibrated, SearchResult
from kb_index.settling import UnansweredSettler
from kb_index.sync import IndexFollower
from kb_index.unanswered import (
    Cluster,
    answered_now,
    cluster_questions,
    record_unanswered,
    settle_unanswered,
    sharing_words,
    similarity_for,
    unanswered_questions,
)

__all__ = [
    "LANGUAGES",
    "Article",
    "ArticleDraft",
    "ArticleError",
    "ArticleFileError",
    "ArticleNotFound",
    "ArticleVersion",
    "Calibration",
    "CandidateDecided",
    "CandidateError",
    "CandidateNotFound",
    "CandidateQuestion",
    "CandidateView",
    "Cluster",
    "Decision",
    "DuplicateArticle",
    "Encoder",
    "EncoderNotAvailable",
    "Hit",
    "IndexFollower",
    "IndexedArticle",
    "KnowledgeIndex",
    "NotCalibrated",
    "SearchResult",
    "StaleVersion",
    "UnansweredQuestion",
    "UnansweredSettler",
    "all_articles",
    "answered_now",
    "apply_to_index",
    "approve_question",
    "approved_questions",
    "article_versions",
    "changes_after",
    "check_article",
    "cluster_questions",
    "create_article",
    "delete_article",
    "diff_versions",
    "export_kb_dir",
    "export_path",
    "find_article",
    "get_article",
    "get_encoder",
    "import_kb_dir",
    "indexable",
    "indexed_articles",
    "last_change_seq",
    "list_articles",
    "load_kb_dir",
    "open_index",
    "out_of_scope_path",
    "pending_count",
    "pending_questions",
    "propose_question",
    "prune_changes",
    "publish",
    "publish_article",
    "published_articles",
    "read_article_values",
    "record_unanswered",
    "reject_question",
    "render_article_file",
    "revert_article",
    "save_draft",
    "settle_unanswered",
    "sharing_words",
    "similarity_for",
    "sync_index",
    "to_draft",
    "unanswered_questions",
    "unpublish",
    "update_article",
]


def open_index(
    encoder_spec: str,
    *,
    calibration_file: Path | None,
    cache_dir: Path | None,
    persist: bool = False,
    approx_threshold: int = 20_000,
    approx_nprobe: int | None = None,
) -> KnowledgeIndex:
    """An index with the named encoder, its stored calibration (if any) and an embedding cache.

    Empty, unless ``persist``: then it lives in ``cache_dir/store-<encoder>/`` and reopens with the
    articles and vectors of the last run (``sync_index`` then brings it up to date). The
    out-of-scope examples are read from ``out-of-scope.jsonl`` beside the calibration file: the
    calibration was fitted with them, so its weights only mean something together with them."""
    encoder = get_encoder(encoder_spec)
    name = encoder.name if encoder else "bm25"
    calibration = None
    if calibration_file is not None:
        try:
            calibration = Calibration.load(calibration_file, name)
        except NotCalibrated:
            calibration = None
    safe = name.replace(":", "_").replace("/", "_")
    cache = EmbeddingCache(cache_dir / f"embeddings-{safe}.npz" if cache_dir else None)
    store_dir = cache_dir / f"store-{safe}" if persist and cache_dir else None
    index = KnowledgeIndex(
        encoder, calibration, cache=cache, store_dir=store_dir, approx_threshold=approx_threshold, approx_nprobe=approx_nprobe
    )
    if calibration_file is not None:
        from kb_index.evaluation import read_out_of_scope_jsonl  # evaluation imports this package's modules

        index.set_out_of_scope(read_out_of_scope_jsonl(out_of_scope_path(calibration_file)))
    return index


def out_of_scope_path(calibration_file: Path) -> Path:
    """Where the out-of-scope examples that go with a calibration file live."""
    return calibration_file.parent / "out-of-scope.jsonl"


async def import_kb_dir(
    session: AsyncSession, folder: Path, *, author: str, teams: Collection[str]
) -> tuple[int, int, list[ArticleFileError]]:
    """Store every valid article file under ``folder``: published, or a draft when the file says
    ``status: draft``. ``teams`` are the desk's teams (an article for another is malformed).
    Returns (articles read, changed, errors): a malformed file is reported and skipped, the others
    still load."""
    drafts, errors = load_kb_dir(folder, teams=teams)
    changed = 0
    for draft in drafts:
        save = save_draft if draft.status == "draft" else publish_article
        _, did_change = await save(session, draft, author=author)
        changed += did_change
    return len(drafts), changed, errors


async def indexed_articles(session: AsyncSession) -> list[IndexedArticle]:
    """The published articles as the index holds them: the read half of loading an index (the
    encoding, ``sync_index``, comes after the transaction)."""
    return [to_indexed(a) for a in await published_articles(session)]


def sync_index(index: KnowledgeIndex, articles: list[IndexedArticle]) -> int:
    """Make the index hold exactly ``articles`` (``indexed_articles``). It encodes what changed,
    which takes seconds: call it outside any transaction. Returns how many articles it holds."""
    wanted = {a.key for a in articles}
    for stale in [a.key for a in index.articles() if a.key not in wanted]:
        index.remove(*stale)
    current = {a.key: a for a in index.articles()}
    index.upsert([a for a in articles if current.get(a.key) != a])
    return len(index)


async def export_kb_dir(session: AsyncSession, folder: Path) -> list[Path]:
    """Write every article (drafts included, marked ``status: draft``) as ``<folder>/<lang>/<id>.md``;
    ``import_kb_dir`` reads them back unchanged. Returns the files written."""
    written = []
    for article in await all_articles(session):
        draft = to_draft(article)
        path = export_path(folder, draft)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_article_file(draft), encoding="utf-8")
        written.append(path)
    return written
