"""An article as the index stores it: passages (title, questions, body chunks) with stable ids, and
the on-disk cache of their vectors."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kb_index.encoders import Encoder
from kb_index.records import ArticleKey, IndexedArticle

_CHUNK_CHARS = 500


@dataclass(frozen=True)
class Passage:
    """A piece of an article the index searches: its title, an alternative question or a body chunk."""

    key: ArticleKey
    text: str
    kind: str  # title | question | body


def chunks(body: str) -> list[str]:
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


def passages(article: IndexedArticle) -> list[Passage]:
    """The article's title, its alternative questions and its body's chunks."""
    items = [Passage(article.key, article.title, "title")]
    items += [Passage(article.key, q, "question") for q in article.questions if q.strip()]
    items += [Passage(article.key, c, "body") for c in chunks(article.body)]
    return items


def passage_ids(article: IndexedArticle) -> dict[int, Passage]:
    """The article's passages by id: a 63-bit hash of the article key, kind, text and which
    repetition of that text it is, so the same passage keeps its id (and its vector) across edits
    and restarts."""
    seen: dict[tuple[str, str], int] = {}
    out: dict[int, Passage] = {}
    for passage in passages(article):
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
        """The vectors of ``texts`` (as passages or as queries), encoding only those not cached yet."""
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
        """Write the cache to its file if it changed."""
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
