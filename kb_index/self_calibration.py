"""Fitting the thresholds from the knowledge base alone, for a company with no labelled questions.

The articles' own alternative questions stand in for customers' questions, in folds: in each fold
about one article in ``FOLDS`` is left out of the index, so its questions must be escalated (they
are near the company's domain, like real out-of-scope questions), and about one question in
``FOLDS`` of every other article is held out of its article and must find it. The out-of-scope
examples that ship with Balcão are split the same way: those of the fold are questions to
escalate, the others stay the index's out-of-scope examples. Every question is searched in an
index that does not hold it, the candidates of all folds are pooled and the fusion and thresholds
are fitted on them exactly as on labelled validation questions (``kb_index.evaluation``).

Each article's vectors are encoded once and shared by the folds (one in-memory cache), so the cost
is one encoding of the knowledge base plus, per fold, the lexical index and the head's fit.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from kb_index.encoders import Encoder
from kb_index.evaluation import MIN_OOS_RECALL_KB_ALONE, Candidates, LabelledQuestion, candidates, fit_candidates
from kb_index.index import Calibration, EmbeddingCache, IndexedArticle, KnowledgeIndex
from kb_index.text import language_family

# One article in eight left out per fold: the benchmark's protocol leaves about one intent in
# eight out of scope, and seven eighths of the articles is close to the index the hub will hold.
FOLDS = 8
_SEED = 2026  # the same folds on every run: the same articles give the same thresholds


@dataclass(frozen=True)
class Fold:
    """One fold: the articles indexed, the questions searched, the out-of-scope examples kept."""

    articles: list[IndexedArticle]
    questions: list[LabelledQuestion]
    out_of_scope: list[tuple[str, str]]


def kb_folds(articles: Sequence[IndexedArticle], out_of_scope: Sequence[tuple[str, str]], folds: int = FOLDS) -> list[Fold]:
    """The folds described above. An article with a single question keeps it (an article needs
    something to be found by besides its title); its question still serves when it is left out.
    Out-of-scope examples in languages none of the articles is in are not used."""
    order = sorted({a.id for a in articles})
    random.Random(_SEED).shuffle(order)  # noqa: S311 - fixed folds, not a secret
    group = {article_id: n % folds for n, article_id in enumerate(order)}  # every language of an id together
    # Only examples in the articles' languages: a question in another language is compared with
    # articles it would never be answered from, which says nothing about this knowledge base.
    families = {language_family(a.lang) for a in articles}
    examples = [e for e in out_of_scope if language_family(e[1]) in families]
    random.Random(_SEED).shuffle(examples)  # noqa: S311 - fixed folds, not a secret
    out = []
    for f in range(folds):
        kept: list[IndexedArticle] = []
        questions: list[LabelledQuestion] = []
        for article in articles:
            if group[article.id] == f:
                questions += [LabelledQuestion(q, article.lang, None) for q in article.questions]
                continue
            held = [q for n, q in enumerate(article.questions) if n % folds == f] if len(article.questions) > 1 else []
            questions += [LabelledQuestion(q, article.lang, article.id) for q in held]
            kept.append(replace(article, questions=tuple(q for q in article.questions if q not in held)))
        questions += [LabelledQuestion(text, lang, None) for n, (text, lang) in enumerate(examples) if n % folds == f]
        rest = [e for n, e in enumerate(examples) if n % folds != f]
        out.append(Fold(kept, questions, rest))
    return out


def concat_candidates(parts: Sequence[Candidates]) -> Candidates:
    """The candidates of several question sets (each searched in its own index) as one."""
    width = max((p.dense.shape[1] for p in parts), default=1)

    def pad(a: np.ndarray) -> np.ndarray:
        return np.pad(a, ((0, 0), (0, width - a.shape[1])))

    return Candidates(
        [a for p in parts for a in p.articles],
        [ids for p in parts for ids in p.ids],
        *(
            np.concatenate([pad(getattr(p, f)) for p in parts])
            for f in ("dense", "lexical", "centroid", "head", "negative", "mask")
        ),
    )


class _Remembering(Encoder):
    """An encoder whose query vectors go through a cache too: the held-out questions of one fold
    are indexed passages of the others, so each text is encoded once for all folds."""

    def __init__(self, inner: Encoder, cache: EmbeddingCache) -> None:
        self.inner, self.cache = inner, cache
        self.name, self.dim = inner.name, inner.dim

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.cache.encode(self.inner, list(texts), passages=False)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.cache.encode(self.inner, list(texts), passages=True)


def calibrate_from_kb(
    index: KnowledgeIndex,
    out_of_scope: Sequence[tuple[str, str]] = (),
    *,
    cache: EmbeddingCache | None = None,
    folds: int = FOLDS,
) -> Calibration:
    """Fit fusion weights and thresholds on ``index``'s own articles (see the module) and set them
    on the index. Raises ValueError when the articles give nothing to fit on (fewer than two
    articles, or no alternative questions)."""
    calibration = fit_from_kb(index.articles(), index.encoder, out_of_scope, cache=cache, folds=folds)
    index.calibration = calibration
    return calibration


def fit_from_kb(
    articles: Sequence[IndexedArticle],
    encoder: Encoder | None,
    out_of_scope: Sequence[tuple[str, str]] = (),
    *,
    cache: EmbeddingCache | None = None,
    folds: int = FOLDS,
) -> Calibration:
    """The calibration ``calibrate_from_kb`` fits, for ``articles`` searched with ``encoder``
    (None: BM25 alone), without touching any index."""
    if len({a.id for a in articles}) < 2 or not any(len(a.questions) > 1 for a in articles):
        raise ValueError("calibrating from the knowledge base needs at least two articles with alternative questions")
    cache = cache or EmbeddingCache(None)
    remembering = _Remembering(encoder, cache) if encoder is not None else None
    parts = []
    for fold in kb_folds(articles, out_of_scope, folds):
        if not fold.questions:
            continue
        fold_index = KnowledgeIndex(remembering, cache=cache, background=False, progress=False)
        fold_index.upsert(fold.articles)
        fold_index.set_out_of_scope(fold.out_of_scope)
        parts.append(candidates(fold_index, fold.questions))
        fold_index.close()
    pooled = concat_candidates(parts)
    if all(a is None for a in pooled.articles) or all(a is not None for a in pooled.articles):
        raise ValueError("calibrating from the knowledge base needs questions both in and out of scope")
    calibration = fit_candidates(
        pooled, encoder.name if encoder is not None else "bm25", dense=encoder is not None, min_oos=MIN_OOS_RECALL_KB_ALONE
    )
    calibration.metrics["source"] = {"kb_alone": 1.0, "folds": float(folds)}
    return calibration
