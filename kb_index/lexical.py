"""BM25 over passages, updated in place: adding or removing a passage costs about its own length,
whatever the size of the index, so a published article is searchable at once even at a million
passages (rebuilding a bm25s index from scratch takes minutes there).

Scores are those of ``bm25s.BM25()`` (its default Lucene variant, k1 = 1.5, b = 0.75) over the
same token lists: idf = ln(1 + (N - df + 0.5) / (df + 0.5)), and each matching query token adds
idf · tf / (tf + k1 · (1 - b + b · len / avg len)); a repeated query token counts each time. bm25s
computes them when it indexes; here N, df and the average length are the live ones and the scores
are computed at query time with numpy, so no update ever touches the other passages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

_EMPTY = "\u2205"  # an empty passage is one token long, as the index always built them


class _Postings:
    """The passages (slots) holding one term and how often: growable arrays, appended to."""

    __slots__ = ("df", "size", "slots", "tfs")

    def __init__(self) -> None:
        self.slots = np.empty(4, dtype=np.int64)
        self.tfs = np.empty(4, dtype=np.float32)
        self.size = 0
        self.df = 0  # live passages holding the term (dead slots stay in the arrays until compaction)

    def append(self, slot: int, tf: int) -> None:
        if self.size == len(self.slots):
            self.slots = np.resize(self.slots, max(4, self.size * 2))
            self.tfs = np.resize(self.tfs, max(4, self.size * 2))
        self.slots[self.size] = slot
        self.tfs[self.size] = tf
        self.size += 1


class LexicalIndex:
    """Passages by id, searchable by BM25; ``add`` replaces a passage with the same id."""

    def __init__(self, *, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._terms: dict[str, _Postings] = {}
        self._slot_of: dict[int, int] = {}
        self._pids = np.empty(1024, dtype=np.int64)  # slot -> passage id (-1: removed)
        self._lengths = np.zeros(1024, dtype=np.float32)
        self._doc_terms: list[tuple[str, ...] | None] = []  # slot -> its distinct terms, for removal
        self._total_length = 0
        self._dead = 0

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, pid: int) -> bool:
        return pid in self._slot_of

    def add(self, pid: int, passage_tokens: Sequence[str]) -> None:
        """Index passage ``pid`` with its (already normalised) tokens."""
        if pid in self._slot_of:
            self.remove(pid)
        passage_tokens = list(passage_tokens) or [_EMPTY]
        slot = len(self._doc_terms)
        if slot == len(self._pids):
            self._pids = np.resize(self._pids, slot * 2)
            self._lengths = np.resize(self._lengths, slot * 2)
        counts = Counter(passage_tokens)
        for term, tf in counts.items():
            postings = self._terms.get(term)
            if postings is None:
                postings = self._terms[term] = _Postings()
            postings.append(slot, tf)
            postings.df += 1
        self._pids[slot] = pid
        self._lengths[slot] = len(passage_tokens)
        self._doc_terms.append(tuple(counts))
        self._slot_of[pid] = slot
        self._total_length += len(passage_tokens)

    def remove(self, pid: int) -> None:
        """Forget passage ``pid`` (nothing happens if it is not indexed)."""
        slot = self._slot_of.pop(pid, None)
        if slot is None:
            return
        for term in self._doc_terms[slot] or ():
            self._terms[term].df -= 1
        self._doc_terms[slot] = None
        self._pids[slot] = -1
        self._total_length -= int(self._lengths[slot])
        self._dead += 1
        # Removed slots stay in the postings (skipped at query time) until they are as many as the
        # live ones; then one pass rewrites the postings, so the cost per change stays constant.
        if self._dead > max(1024, len(self._slot_of)):
            self._compact()

    def _compact(self) -> None:
        used = len(self._doc_terms)
        live = np.flatnonzero(self._pids[:used] >= 0)
        remap = np.full(used, -1, dtype=np.int64)
        remap[live] = np.arange(len(live))
        capacity = max(1024, len(live) * 2)
        pids = np.empty(capacity, dtype=np.int64)
        lengths = np.zeros(capacity, dtype=np.float32)
        pids[: len(live)] = self._pids[live]
        lengths[: len(live)] = self._lengths[live]
        self._pids, self._lengths = pids, lengths
        self._doc_terms = [self._doc_terms[slot] for slot in live]
        self._slot_of = {int(pid): i for i, pid in enumerate(pids[: len(live)])}
        for term in [t for t, p in self._terms.items() if p.df == 0]:
            del self._terms[term]
        for postings in self._terms.values():
            new = remap[postings.slots[: postings.size]]
            keep = new >= 0
            postings.slots = new[keep]
            postings.tfs = postings.tfs[: postings.size][keep]
            postings.size = len(postings.slots)
        self._dead = 0

    def scores(self, query_tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(passage ids, BM25 scores) of the passages scoring above zero for these query tokens."""
        n = len(self._slot_of)
        if not n:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        avg_length = self._total_length / n
        used = len(self._doc_terms)
        total = np.zeros(used, dtype=np.float32)
        for term in query_tokens:
            postings = self._terms.get(term)
            if postings is None or postings.df == 0:
                continue
            slots = postings.slots[: postings.size]
            tfs = postings.tfs[: postings.size]
            idf = np.log(1 + (n - postings.df + 0.5) / (postings.df + 0.5))
            norm = self.k1 * ((1 - self.b) + self.b * self._lengths[slots] / avg_length)
            total[slots] += (idf * tfs / (norm + tfs)).astype(np.float32)  # a slot appears once per term
        hit = np.flatnonzero(total > 0)
        pids = self._pids[hit]
        alive = pids >= 0
        return pids[alive], total[hit][alive]
