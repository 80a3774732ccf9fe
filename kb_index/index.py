"""The hybrid index: BM25 over stemmed, accent-folded passages plus dense vectors in FAISS, fused
per article, and the answer / clarify / escalate decision on calibrated thresholds.

Both sides are updated in place (``kb_index.lexical``, ``kb_index.vectors``): a publish costs
about the size of the article, not of the index. Passage ids are derived from the article and the
passage's text, so an edit only re-encodes the passages it changed, and an index reopened from its
directory recognises the vectors it already holds."""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

import faiss
import numpy as np

from kb_index.encoders import Encoder
from kb_index.journal import ArticleJournal
from kb_index.lexical import LexicalIndex
from kb_index.text import language_family, tokens
from kb_index.vectors import VectorStore, lock_directory

faiss.omp_set_num_threads(1)
logger = logging.getLogger(__name__)

ArticleKey = tuple[str, str]  # (article id, language)
# The linear head: a fitted sklearn LogisticRegression (untyped) and its column per (article id, language family).
_Head = tuple[Any, dict[tuple[str, str], int]]
_CHUNK_CHARS = 500
_DENSE_CANDIDATES = 256
# The linear head: inverse regularisation, chosen on the Portuguese validation questions (1, 10 and
# 100 tried; the articles' few questions each need little regularisation to be told apart), and
# the size past which it is not trained (its training time grows with the questions: a large
# knowledge base ranks by the cosines and BM25 alone, and should be calibrated that way).
_HEAD_C = 100.0
_HEAD_MAX_QUESTIONS = 50_000
# After a change the head is refitted in a background thread while searches go on with the previous
# one (a new article is found by its cosines and BM25 at once, with no head probability until the
# refit lands): its fit takes 0.2-1.5 s for the starter articles on this 2-core machine, which a
# customer, or an editor's publish on another hub, must not wait for. Only an index that has never
# had a head (just opened) fits it in the foreground, on ``train_head`` or the first search.


class Decision(str, enum.Enum):
    ANSWER = "answer"
    CLARIFY = "clarify"
    ESCALATE = "escalate"


class NotCalibrated(Exception):
    """The index has no thresholds for this encoder; run ``balcao kb calibrate``."""


@dataclass(frozen=True)
class IndexedArticle:
    """What the index needs of a published article."""

    id: str
    lang: str
    title: str
    body: str
    questions: tuple[str, ...] = ()
    team: str = "geral"

    @property
    def key(self) -> ArticleKey:
        return (self.id, self.lang)


@dataclass(frozen=True)
class Hit:
    """One article found for a question, with its fused score."""

    article_id: str
    lang: str
    title: str
    team: str
    score: float
    body: str


@dataclass(frozen=True)
class SearchResult:
    """The ranked articles for a question and what the bot should do with them."""

    question: str
    lang: str
    hits: list[Hit]
    decision: Decision
    confidence: float

    @property
    def best(self) -> Hit | None:
        return self.hits[0] if self.hits else None


class Signals(NamedTuple):
    """What the index knows of one candidate article for one question, before fusion."""

    dense: float  # cosine of the article's best passage
    lexical: float  # BM25 of the article's best passage
    centroid: float = 0.0  # cosine to the mean vector of the article's title and questions
    head: float = 0.0  # probability the linear head gives the article (see KnowledgeIndex._trained_head)
    # The question's highest cosine to an out-of-scope example of its language family (the same
    # for every candidate of a question; 0 without examples, see KnowledgeIndex.set_out_of_scope).
    negative: float = 0.0


@dataclass
class Calibration:
    """Fusion weights and decision thresholds, fitted on validation questions for one encoder."""

    encoder: str
    beta: float  # weight of the lexical score beside the dense cosine
    kappa: float  # BM25 saturation: lexical = bm25 / (bm25 + kappa)
    t_answer: float  # answer at or above
    t_clarify: float  # offer choices at or above, escalate below
    metrics: dict = field(default_factory=dict)
    # Share of the dense score taken from the article's centroid instead of its best passage
    # (0 in files written before it existed: the best passage alone, as then).
    centroid: float = 0.0
    # Weight of the linear head's probability added to the cosine (0 in older files: no head).
    head: float = 0.0
    # Weight of the question's cosine to the nearest out-of-scope example, subtracted from the
    # confidence (0 in older files, and whenever the index has no such examples).
    negative: float = 0.0

    @classmethod
    def load(cls, path: Path, encoder: str) -> Calibration:
        """Read this encoder's calibration from the JSON file that holds one per encoder."""
        try:
            data = json.loads(path.read_text())[encoder]
        except (FileNotFoundError, KeyError) as exc:
            raise NotCalibrated(f"no calibration for encoder {encoder!r} in {path}; run `balcao kb calibrate`") from exc
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def parameters(self) -> dict[str, float]:
        """The fitted numbers (fusion weights and thresholds), without the validation metrics."""
        return {
            "t_answer": self.t_answer,
            "t_clarify": self.t_clarify,
            "beta": self.beta,
            "kappa": self.kappa,
            "centroid": self.centroid,
            "head": self.head,
            "negative": self.negative,
        }

    def save(self, path: Path) -> None:
        """Write (or replace) this encoder's entry in the JSON file."""
        data = json.loads(path.read_text()) if path.exists() else {}
        data[self.encoder] = asdict(self)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


@dataclass(frozen=True)
class _Passage:
    key: ArticleKey
    text: str
    kind: str  # title | question | body


def _chunks(body: str) -> list[str]:
    """Body split at paragraphs into pieces of at most about 500 characters."""
    out: list[str] = []
    current = ""
    for raw in re.split(r"\n\s*\n", body):
        para = raw.strip()
        if not para:
            continue
        if current and len(current) + len(para) > _CHUNK_CHARS:
            out.append(current)
            current = para
        else:
            current = f"{current}\n\n{para}" if current else para
    if current:
        out.append(current)
    return out


def _passages(article: IndexedArticle) -> list[_Passage]:
    items = [_Passage(article.key, article.title, "title")]
    items += [_Passage(article.key, q, "question") for q in article.questions if q.strip()]
    items += [_Passage(article.key, c, "body") for c in _chunks(article.body)]
    return items


def _passage_ids(article: IndexedArticle) -> dict[int, _Passage]:
    """The article's passages by id: a 63-bit hash of the article key, kind, text and which
    repetition of that text it is, so the same passage keeps its id (and its vector) across edits
    and restarts."""
    seen: dict[tuple[str, str], int] = {}
    out: dict[int, _Passage] = {}
    for passage in _passages(article):
        nth = seen[(passage.kind, passage.text)] = seen.get((passage.kind, passage.text), -1) + 1
        raw = "\x00".join((*article.key, passage.kind, passage.text, str(nth))).encode()
        out[int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "little") & 0x7FFF_FFFF_FFFF_FFFF] = passage
    return out


class EmbeddingCache:
    """Vectors of texts already encoded, on disk, so restarts and benchmarks do not re-encode."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._vectors: dict[str, np.ndarray] = {}
        if path and path.exists():
            data = np.load(path)
            self._vectors = dict(zip(data["keys"].tolist(), data["vectors"]))
        self._dirty = False

    @staticmethod
    def _key(kind: str, text: str) -> str:
        return hashlib.sha1(f"{kind}\x00{text}".encode(), usedforsecurity=False).hexdigest()

    def encode(self, encoder: Encoder, texts: Sequence[str], *, passages: bool) -> np.ndarray:
        kind = "p" if passages else "q"
        keys = [self._key(kind, t) for t in texts]
        missing = sorted({(k, t) for k, t in zip(keys, texts) if k not in self._vectors})
        if missing:
            fn = encoder.encode_passages if passages else encoder.encode_queries
            vectors = fn([t for _, t in missing])
            for (k, _), v in zip(missing, vectors):
                self._vectors[k] = v
            self._dirty = True
        if not texts:
            return np.zeros((0, encoder.dim), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys]).astype(np.float32)

    def save(self) -> None:
        if self._path and self._dirty:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            keys = np.array(list(self._vectors.keys()))
            vectors = np.stack(list(self._vectors.values())) if self._vectors else np.zeros((0, 1))
            # A temporary file of our own, then an atomic rename: another process writing the same
            # cache (a replica, a `balcao kb` command) never sees a half-written file.
            fd, tmp_name = tempfile.mkstemp(dir=self._path.parent, suffix=".npz")
            with os.fdopen(fd, "wb") as tmp:
                np.savez(tmp, keys=keys, vectors=vectors)
            Path(tmp_name).replace(self._path)
            self._dirty = False


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
        self._passages: dict[int, _Passage] = {}
        self._by_article: dict[ArticleKey, list[int]] = {}
        self._lexical = LexicalIndex()
        # Per article: the normalised mean of its title and questions vectors. Its cosine to a
        # question says how close the question is to the article's questions as a whole, which
        # one lucky passage (the max) does not; kept beside the passage store, updated with it.
        self._centroids: dict[ArticleKey, np.ndarray] = {}
        # The vectors of each article's title and questions, and a multinomial logistic regression
        # trained on them (one class per article id and language family), retrained lazily after
        # a change: it learns which directions tell articles apart, which a plain cosine cannot.
        self._question_vectors: dict[ArticleKey, np.ndarray] = {}
        self._head: _Head | None = None
        self._head_generation = 0  # bumped on every change to the articles' question vectors
        self._head_fitted = -1  # the generation the current head was fitted on
        self._head_thread: threading.Thread | None = None
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
            added: list[tuple[int, _Passage]] = []
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

    def _place(self, article: IndexedArticle) -> tuple[list[int], list[tuple[int, _Passage]]]:
        """Put the article's passages in place of its old ones in the maps and the lexical index;
        returns (passage ids gone, passages new) for the dense side."""
        wanted = _passage_ids(article)
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

    def _encode_and_add(self, passages: list[tuple[int, _Passage]]) -> None:
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
            self._question_vectors.pop(key, None)
            self._centroids.pop(key, None)
            if not pids:
                continue
            vectors = dense.get(pids)
            self._question_vectors[key] = vectors
            mean = vectors.mean(axis=0)
            self._centroids[key] = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        self._head_generation += 1
        if self._head is not None:
            self._schedule_head_fit()

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

    def _head_data(self) -> tuple[np.ndarray, list[tuple[str, str]]] | None:
        labels: list[tuple[str, str]] = []
        rows: list[np.ndarray] = []
        for key, vectors in sorted(self._question_vectors.items()):
            labels += [(key[0], language_family(key[1]))] * len(vectors)
            rows.append(vectors)
        if len(set(labels)) < 2 or len(labels) > _HEAD_MAX_QUESTIONS:
            return None
        return np.concatenate(rows), labels

    @staticmethod
    def _fit_head(x: np.ndarray, labels: list[tuple[str, str]]) -> _Head:
        from sklearn.linear_model import LogisticRegression

        column = {name: i for i, name in enumerate(sorted(set(labels)))}
        y = np.array([column[name] for name in labels])
        return LogisticRegression(C=_HEAD_C, max_iter=1000).fit(x, y), column

    def train_head(self) -> None:
        """Refit the linear head now if the articles changed since it was fitted, waiting for it
        (calibration, evaluation and a hub's start-up need the head that matches the articles)."""
        with self._lock:
            self._fit_head_now()

    def _fit_head_now(self) -> None:
        if self._head_fitted != self._head_generation:
            generation, data = self._head_generation, self._head_data()
            self._install_head(self._fit_head(*data) if data else None, generation)

    def _install_head(self, head: _Head | None, generation: int) -> None:
        """Use ``head`` unless a newer one is in place already (a refit in the foreground can finish
        before an older one in the background). Called with the lock held."""
        if generation > self._head_fitted:
            self._head, self._head_fitted = head, generation

    def _trained_head(self) -> _Head | None:
        """The linear head to score with (None with fewer than two articles, or past the size).
        Called with the lock held. Fits it here only if the index never had one; otherwise a stale
        head is used while ``_schedule_head_fit``'s thread fits the new one."""
        if self._head is None and self._head_thread is None:
            self._fit_head_now()
        return self._head

    def _schedule_head_fit(self) -> None:
        """Start the background refit unless one is running (it loops until the head is current).
        Called with the lock held."""
        if self._head_thread is not None:
            return
        self._head_thread = threading.Thread(target=self._fit_head_in_background, name="kb-head", daemon=True)
        self._head_thread.start()

    def _fit_head_in_background(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._head_fitted == self._head_generation:
                        self._head_thread = None  # under the lock: a change after this starts a new thread
                        return
                    generation, data = self._head_generation, self._head_data()
                head = self._fit_head(*data) if data else None  # without the lock: searches go on meanwhile
                with self._lock:
                    self._install_head(head, generation)
        except Exception:  # searches keep the previous head; the next change tries again
            logger.exception("knowledge base: refitting the linear head failed")
            with self._lock:
                self._head_thread = None

    def wait_for_head(self, timeout: float | None = None) -> None:
        """Block until a background refit of the head (if any) has landed; for tests and tools."""
        thread = self._head_thread
        if thread is not None:
            thread.join(timeout)

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
        passage, cosine to the article's centroid)."""
        with self._lock:
            if not self._articles:
                return [{} for _ in questions]
            dense_rows: list[dict[ArticleKey, float]] = [{} for _ in questions]
            vectors = None
            if self.encoder and self._dense is not None and len(self._dense):
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
            head = self._trained_head() if vectors is not None else None
            probabilities = head[0].predict_proba(vectors) if head is not None else None
            out = []
            for row, (question, lang) in enumerate(zip(questions, langs)):
                lexical: dict[ArticleKey, float] = {}
                query = tokens(question, lang)
                if query:
                    pids, passage_scores = self._lexical.scores(query)
                    for pid, score in zip(pids.tolist(), passage_scores.tolist()):
                        key = self._passages[pid].key
                        lexical[key] = max(lexical.get(key, 0.0), score)
                dense = dense_rows[row]
                floor = min(dense.values()) if dense else 0.0
                keys = sorted(set(dense) | set(lexical))
                centroid = [floor] * len(keys)
                if vectors is not None and keys:
                    have = [i for i, key in enumerate(keys) if key in self._centroids]
                    if have:
                        sims = np.stack([self._centroids[keys[i]] for i in have]) @ vectors[row]
                        for i, sim in zip(have, sims.tolist()):
                            centroid[i] = sim
                if head is not None and probabilities is not None:
                    column = head[1]
                    p_row = probabilities[row]
                    heads = [
                        float(p_row[column[(key[0], language_family(key[1]))]])
                        if (key[0], language_family(key[1])) in column
                        else 0.0
                        for key in keys
                    ]
                else:
                    heads = [0.0] * len(keys)
                negative = self._negative_similarity(vectors[row], lang) if vectors is not None else 0.0
                out.append(
                    {
                        key: Signals(dense.get(key, floor), lexical.get(key, 0.0), c, h, negative)
                        for key, c, h in zip(keys, centroid, heads)
                    }
                )
            return out

    @staticmethod
    def fuse(
        dense: float,
        lexical: float,
        *,
        beta: float,
        kappa: float,
        dense_available: bool,
        centroid_sim: float = 0.0,
        centroid: float = 0.0,
        head_probability: float = 0.0,
        head: float = 0.0,
        negative_sim: float = 0.0,
        negative: float = 0.0,
    ) -> float:
        """One confidence from the signals: the cosine (best passage mixed with the article's
        centroid by the weight ``centroid``), the linear head's probability weighted by ``head``,
        less the cosine to the nearest out-of-scope example weighted by ``negative``, plus a
        saturated BM25 bonus."""
        lexical_sat = lexical / (lexical + kappa) if lexical > 0 else 0.0
        cosine = (1.0 - centroid) * dense + centroid * centroid_sim + head * head_probability - negative * negative_sim
        return (cosine if dense_available else 0.0) + beta * lexical_sat

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
        keys = self.candidate_keys(scores, lang)
        # One entry per article id: prefer the version in the customer's exact language.
        best: dict[str, tuple[ArticleKey, float]] = {}
        for key in keys:
            signals = Signals(*scores[key])
            value = self.fuse(
                signals.dense,
                signals.lexical,
                beta=beta,
                kappa=kappa,
                dense_available=self.encoder is not None,
                centroid_sim=signals.centroid,
                centroid=centroid,
                head_probability=signals.head,
                head=head,
                negative_sim=signals.negative,
                negative=negative,
            )
            current = best.get(key[0])
            if current is None or value > current[1] or (value == current[1] and key[1] == lang):
                best[key[0]] = (key, value)
        return sorted(best.values(), key=lambda kv: (-kv[1], kv[0]))

    @staticmethod
    def candidate_keys(scores: dict[ArticleKey, Signals], lang: str) -> list[ArticleKey]:
        """The articles a question may get: its language family's (all if there are none), sorted so
        ties are broken the same way in every process (set order depends on the hash seed)."""
        family = language_family(lang)
        return sorted(k for k in scores if language_family(k[1]) == family) or sorted(scores)

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
        for question, lang, scores in zip(questions, langs, self.raw_scores(questions, langs)):
            ranked = self.rank(
                scores, lang, beta=cal.beta, kappa=cal.kappa, centroid=cal.centroid, head=cal.head, negative=cal.negative
            )[:k]
            hits = []
            for key, value in ranked:
                article = self._articles.get(key)
                if article is not None:
                    hits.append(Hit(article.id, article.lang, article.title, article.team, round(value, 4), article.body))
            confidence = hits[0].score if hits else 0.0
            decision = self.decide(confidence) if hits else Decision.ESCALATE
            results.append(SearchResult(question, lang, hits, decision, confidence))
        return results

    def search(self, question: str, lang: str, *, k: int = 3) -> SearchResult:
        """The best articles for one customer question and the decision on them."""
        return self.search_many([question], [lang], k=k)[0]
