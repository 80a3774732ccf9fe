"""The hybrid index: BM25 over stemmed, accent-folded passages plus dense vectors in FAISS, fused
per article, and the answer / clarify / escalate decision on calibrated thresholds.

Both sides are updated in place (``kb_index.lexical``, ``kb_index.vectors``): a publish costs
about the size of the article, not of the index. Passage ids are derived from the article and the
passage's text, so an edit only re-encodes the passages it changed, and an index reopened from its
directory recognises the vectors it already holds."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

import faiss
import numpy as np

from kb_index import ranking
from kb_index.answer_passage import best_body_passage, cosines
from kb_index.encoders import Encoder
from kb_index.head import LinearHead
from kb_index.journal import ArticleJournal
from kb_index.lexical import LexicalIndex
from kb_index.passages import EmbeddingCache, Passage, passage_ids
from kb_index.records import (
    ArticleKey,
    Calibration,
    Decision,
    Hit,
    IndexedArticle,
    NotCalibrated,
    SearchResult,
    Signals,
)
from kb_index.text import language_family, tokens
from kb_index.vector_files import lock_directory
from kb_index.vectors import VectorStore

faiss.omp_set_num_threads(1)
logger = logging.getLogger(__name__)

_DENSE_CANDIDATES = 256


class KnowledgeIndex:
    """Articles made searchable. Thread-safe: editors' updates and customers' searches interleave."""

    def __init__(
        self,
        encoder: Encoder | None,
        calibration: Calibration | None = None,
        *,
        cache: EmbeddingCache | None = None,
        store_dir: Path | None = None,
        approx_threshold: int = 20_000,
        approx_nprobe: int | None = None,
        background: bool = True,
        progress: bool = True,
    ) -> None:
        """``store_dir`` keeps the index (articles, vectors) on disk and reloads it from there;
        past ``approx_threshold`` passages dense search is approximate (``kb_index.vectors``)."""
        self.encoder = encoder
        self.encoder_name = encoder.name if encoder else "bm25"
        self.calibration = calibration
        self._cache = cache or EmbeddingCache(None)
        self._lock = threading.RLock()
        self._articles: dict[ArticleKey, IndexedArticle] = {}
        self._passages: dict[int, Passage] = {}
        self._by_article: dict[ArticleKey, list[int]] = {}
        self._lexical = LexicalIndex()
        # Per article: the normalised mean of its title and questions vectors. Its cosine to a
        # question says how close the question is to the article's questions as a whole, which
        # one lucky passage (the max) does not; kept beside the passage store, updated with it.
        self._centroids: dict[ArticleKey, np.ndarray] = {}
        # The vectors of each article's title and questions, and the linear head trained on them
        # (``kb_index.head``), refitted in the background after a change.
        self._head = LinearHead(self._lock)
        # Out-of-scope examples (questions near the shop's domain that no article answers), as
        # normalised vectors per language family: a customer question close to one of them is
        # more likely out of scope than its cosine to the articles alone says.
        self._out_of_scope: dict[str, np.ndarray] = {}
        # One writer per directory: another process (or index) that finds it taken loads the
        # same files and keeps its changes in memory (the database is the truth; it reconciles).
        self._dir_lock = lock_directory(store_dir) if store_dir is not None else None
        writable = self._dir_lock is not None
        self._journal = ArticleJournal(store_dir / "articles.jsonl", writable=writable) if store_dir is not None else None
        self._dense = (
            VectorStore(
                encoder.dim,
                encoder=encoder.name,
                path=store_dir,
                writable=writable,
                approx_threshold=approx_threshold,
                nprobe=approx_nprobe,
                background=background,
                progress=progress,
            )
            if encoder
            else None
        )
        if self._journal is not None:
            self._reopen(self._journal)

    def _reopen(self, journal: ArticleJournal) -> None:
        """Take back the articles of the last run and make the vectors agree with them."""
        stored = journal.load()
        with self._lock:
            for row in stored.values():
                article = IndexedArticle(**{**row, "questions": tuple(row.get("questions", ()))})
                self._place(article)
            if self._dense is not None:
                orphans = [pid for pid in self._dense.ids() if pid not in self._passages]
                self._dense.remove(orphans)
                self._encode_and_add([(pid, p) for pid, p in self._passages.items() if pid not in self._dense])
                self._refresh_question_vectors(self._dense, list(self._articles))

    # -- writing -----------------------------------------------------------------------------

    def upsert(self, articles: Iterable[IndexedArticle]) -> None:
        """Add articles, or replace them if their (id, language) is already indexed."""
        articles = list(articles)
        with self._lock:
            gone: list[int] = []
            added: list[tuple[int, Passage]] = []
            for article in articles:
                old, new = self._place(article)
                gone += old
                added += new
            if self._dense is not None:
                self._dense.remove(gone)
                # The same article twice in one batch: only the passages its last version kept.
                self._encode_and_add([(pid, p) for pid, p in dict(added).items() if pid in self._passages])
                self._refresh_question_vectors(self._dense, {a.key for a in articles})
            self._record(put=articles)

    def _place(self, article: IndexedArticle) -> tuple[list[int], list[tuple[int, Passage]]]:
        """Put the article's passages in place of its old ones in the maps and the lexical index;
        returns (passage ids gone, passages new) for the dense side."""
        wanted = passage_ids(article)
        previous = self._by_article.get(article.key, [])
        gone = [pid for pid in previous if pid not in wanted]
        for pid in gone:
            self._passages.pop(pid, None)
            self._lexical.remove(pid)
        added = []
        for pid, passage in wanted.items():
            if pid not in self._passages:
                self._passages[pid] = passage
                self._lexical.add(pid, tokens(passage.text, passage.key[1]))
                added.append((pid, passage))
        self._by_article[article.key] = list(wanted)
        self._articles[article.key] = article
        return gone, added

    def _encode_and_add(self, passages: list[tuple[int, Passage]]) -> None:
        if self._dense is None or self.encoder is None or not passages:  # no encoder, no dense store
            return
        # A persisted index keeps its vectors in its own directory; the embedding cache (one file,
        # rewritten whole on save) would cost a write of every vector per publish at scale.
        cache = self._cache if self._journal is None else EmbeddingCache(None)
        # Titles and alternative questions are encoded like customers' questions, bodies as passages.
        for is_body in (False, True):
            group = [(pid, p) for pid, p in passages if (p.kind == "body") == is_body]
            if group:
                vectors = cache.encode(self.encoder, [p.text for _, p in group], passages=is_body)
                self._dense.add(np.array([pid for pid, _ in group], dtype=np.int64), vectors)
        cache.save()

    def _record(self, *, put: Sequence[IndexedArticle] = (), delete: Sequence[ArticleKey] = ()) -> None:
        if self._journal is not None:
            self._journal.record(
                put=[asdict(a) for a in put],
                delete=delete,
                live=len(self._articles),
                everything=lambda: [asdict(a) for a in self._articles.values()],
            )

    def _refresh_question_vectors(self, dense: VectorStore, keys: Iterable[ArticleKey]) -> None:
        """Recompute the centroid and the head's training rows of these articles from the stored
        vectors of their titles and questions (kept or new alike), and mark the head stale."""
        for key in keys:
            pids = [pid for pid in self._by_article.get(key, []) if self._passages[pid].kind != "body"]
            self._head.rows.pop(key, None)
            self._centroids.pop(key, None)
            if not pids:
                continue
            vectors = dense.get(pids)
            self._head.rows[key] = vectors
            mean = vectors.mean(axis=0)
            self._centroids[key] = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        self._head.changed()

    def set_out_of_scope(self, examples: Sequence[tuple[str, str]]) -> None:
        """Replace the out-of-scope examples, given as (text, language) pairs. Without an encoder
        they are ignored: the signal is a cosine."""
        if self.encoder is None:
            return
        by_family: dict[str, list[str]] = {}
        for text, lang in examples:
            by_family.setdefault(language_family(lang), []).append(text)
        vectors = {
            family: np.asarray(self._cache.encode(self.encoder, texts, passages=True), dtype=np.float32)
            for family, texts in by_family.items()
        }
        with self._lock:
            self._out_of_scope = vectors

    def _negative_similarity(self, vector: np.ndarray, lang: str) -> float:
        """The cosine of a question's vector to its language family's nearest out-of-scope example."""
        examples = self._out_of_scope.get(language_family(lang))
        return float((examples @ vector).max()) if examples is not None and len(examples) else 0.0

    def remove(self, article_id: str, lang: str) -> None:
        """Forget an article (unpublished or deleted)."""
        key = (article_id, lang)
        with self._lock:
            if key not in self._articles:
                return
            gone = self._by_article.pop(key, [])
            for pid in gone:
                self._passages.pop(pid, None)
                self._lexical.remove(pid)
            if self._dense is not None:
                self._dense.remove(gone)
                self._refresh_question_vectors(self._dense, [key])
            del self._articles[key]
            self._record(delete=[key])

    def close(self) -> None:
        """Stop a background build, close the files and let another process write the directory."""
        if self._dense is not None:
            self._dense.close()
        if self._journal is not None:
            self._journal.close()
        if self._dir_lock is not None:
            self._dir_lock.close()
            self._dir_lock = None

    @property
    def vectors(self) -> VectorStore | None:
        """The dense store (None for a lexical-only index)."""
        return self._dense

    def train_head(self) -> None:
        """Refit the linear head now if the articles changed since it was fitted, waiting for it
        (calibration, evaluation and a hub's start-up need the head that matches the articles)."""
        self._head.train()

    def wait_for_head(self, timeout: float | None = None) -> None:
        """Block until a background refit of the head (if any) has landed; for tests and tools."""
        self._head.wait(timeout)

    # -- reading -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._articles)

    @property
    def passage_count(self) -> int:
        return len(self._passages)

    def articles(self) -> list[IndexedArticle]:
        with self._lock:
            return list(self._articles.values())

    def raw_scores(self, questions: Sequence[str], langs: Sequence[str]) -> list[dict[ArticleKey, Signals]]:
        """Per question: the signals of each candidate article (best dense passage, best BM25
        passage, cosine to the article's centroid, the head's probability, the out-of-scope cosine)."""
        return self._scores_and_vectors(questions, langs)[0]

    def _scores_and_vectors(
        self, questions: Sequence[str], langs: Sequence[str]
    ) -> tuple[list[dict[ArticleKey, Signals]], np.ndarray | None]:
        """``raw_scores`` and the questions' vectors (None without an encoder), which the choice
        of the answering passage reuses."""
        with self._lock:
            if not self._articles:
                return [{} for _ in questions], None
            vectors, dense_rows = self._dense_scores(questions)
            head = self._head.current() if vectors is not None else None
            probabilities = head[0].predict_proba(vectors) if head is not None else None
            out = []
            for row, (question, lang) in enumerate(zip(questions, langs)):
                vector = vectors[row] if vectors is not None else None
                keys, signals = self._signals(question, lang, dense_rows[row], vector)
                heads = (
                    LinearHead.probabilities_of(head, probabilities[row], keys)
                    if head is not None and probabilities is not None
                    else [0.0] * len(keys)
                )
                out.append({key: s._replace(head=h) for key, s, h in zip(keys, signals, heads)})
            return out, vectors

    def _dense_scores(self, questions: Sequence[str]) -> tuple[np.ndarray | None, list[dict[ArticleKey, float]]]:
        """The questions' vectors (None without an encoder or vectors) and, per question, each
        article's best passage cosine among the nearest passages."""
        dense_rows: list[dict[ArticleKey, float]] = [{} for _ in questions]
        if not (self.encoder and self._dense is not None and len(self._dense)):
            return None, dense_rows
        vectors = self.encoder.encode_queries(list(questions))
        scores, ids = self._dense.search(vectors, min(_DENSE_CANDIDATES, len(self._dense)))
        for row, (srow, irow) in enumerate(zip(scores, ids)):
            best = dense_rows[row]
            for s, pid in zip(srow, irow):
                passage = self._passages.get(int(pid)) if pid >= 0 else None
                if passage is None:
                    continue
                if s > best.get(passage.key, -1.0):
                    best[passage.key] = float(s)
        return vectors, dense_rows

    def _signals(
        self, question: str, lang: str, dense: dict[ArticleKey, float], vector: np.ndarray | None
    ) -> tuple[list[ArticleKey], list[Signals]]:
        """One question's candidate articles (found by either side) and their signals, the head's
        probability left at 0 (``raw_scores`` adds it for the whole batch)."""
        lexical: dict[ArticleKey, float] = {}
        query = tokens(question, lang)
        if query:
            pids, passage_scores = self._lexical.scores(query)
            for pid, score in zip(pids.tolist(), passage_scores.tolist()):
                key = self._passages[pid].key
                lexical[key] = max(lexical.get(key, 0.0), score)
        floor = min(dense.values()) if dense else 0.0
        keys = sorted(set(dense) | set(lexical))
        centroid = [floor] * len(keys)
        if vector is not None and keys:
            have = [i for i, key in enumerate(keys) if key in self._centroids]
            if have:
                sims = np.stack([self._centroids[keys[i]] for i in have]) @ vector
                for i, sim in zip(have, sims.tolist()):
                    centroid[i] = sim
        negative = self._negative_similarity(vector, lang) if vector is not None else 0.0
        return keys, [Signals(dense.get(key, floor), lexical.get(key, 0.0), c, 0.0, negative) for key, c in zip(keys, centroid)]

    # The fusion and ranking are ``kb_index.ranking``'s; kept here as methods, which calibration,
    # evaluation and the benchmarks call on the index.
    fuse = staticmethod(ranking.fuse)
    candidate_keys = staticmethod(ranking.candidate_keys)

    def rank(
        self,
        scores: dict[ArticleKey, Signals],
        lang: str,
        *,
        beta: float,
        kappa: float,
        centroid: float = 0.0,
        head: float = 0.0,
        negative: float = 0.0,
    ) -> list[tuple[ArticleKey, float]]:
        """Articles in the question's language family (all languages if it has none), best first."""
        return ranking.rank(
            scores,
            lang,
            dense_available=self.encoder is not None,
            beta=beta,
            kappa=kappa,
            centroid=centroid,
            head=head,
            negative=negative,
        )

    def decide(self, confidence: float) -> Decision:
        """Answer, clarify or escalate, by the calibrated thresholds."""
        if self.calibration is None:
            raise NotCalibrated(f"the index for encoder {self.encoder_name!r} has no thresholds")
        if confidence >= self.calibration.t_answer:
            return Decision.ANSWER
        if confidence >= self.calibration.t_clarify:
            return Decision.CLARIFY
        return Decision.ESCALATE

    def search_many(self, questions: Sequence[str], langs: Sequence[str], *, k: int = 3) -> list[SearchResult]:
        """Search several questions at once (encoded in one batch)."""
        if self.calibration is None:
            raise NotCalibrated(f"the index for encoder {self.encoder_name!r} has no thresholds")
        cal = self.calibration
        results = []
        scored, vectors = self._scores_and_vectors(questions, langs)
        for row, (question, lang, scores) in enumerate(zip(questions, langs, scored)):
            ranked = self.rank(
                scores, lang, beta=cal.beta, kappa=cal.kappa, centroid=cal.centroid, head=cal.head, negative=cal.negative
            )[:k]
            hits = []
            lexical = self._passage_bm25(question, lang)
            for key, value in ranked:
                article = self._articles.get(key)
                if article is not None:
                    passage = self._answer_passage(article, lexical, vectors[row] if vectors is not None else None)
                    hits.append(
                        Hit(article.id, article.lang, article.title, article.team, round(value, 4), article.body, passage)
                    )
            confidence = hits[0].score if hits else 0.0
            decision = self.decide(confidence) if hits else Decision.ESCALATE
            results.append(SearchResult(question, lang, hits, decision, confidence))
        return results

    def search(self, question: str, lang: str, *, k: int = 3) -> SearchResult:
        """The best articles for one customer question and the decision on them."""
        return self.search_many([question], [lang], k=k)[0]

    def _passage_bm25(self, question: str, lang: str) -> dict[int, float]:
        """The question's BM25 score of every passage it matches, by passage id."""
        query = tokens(question, lang)
        if not query:
            return {}
        with self._lock:
            pids, scores = self._lexical.scores(query)
        return dict(zip(pids.tolist(), scores.tolist()))

    def _answer_passage(self, article: IndexedArticle, lexical: dict[int, float], vector: np.ndarray | None) -> str:
        """The body passage of ``article`` that best answers the question (``kb_index.answer_passage``);
        the whole body when it is one passage."""
        with self._lock:
            body = [
                (pid, self._passages[pid]) for pid in self._by_article.get(article.key, []) if self._passages[pid].kind == "body"
            ]
            if len(body) <= 1 or self.calibration is None:
                return article.body
            pids = [pid for pid, _ in body]
            try:
                vectors = self._dense.get(pids) if self._dense is not None and vector is not None else None
            except KeyError:  # a passage still being encoded: the lexical side alone decides
                vectors = None
        return best_body_passage(
            body, dense=cosines(vector, pids, vectors), lexical=lexical, beta=self.calibration.beta, kappa=self.calibration.kappa
        )

    def answer_passage(self, article_id: str, lang: str, question: str) -> str:
        """The passage of one indexed article that best answers ``question`` ("" if not indexed)."""
        article = self._articles.get((article_id, lang))
        if article is None:
            return ""
        vector = self.encoder.encode_queries([question])[0] if self.encoder is not None and question.strip() else None
        return self._answer_passage(article, self._passage_bm25(question, lang), vector)
