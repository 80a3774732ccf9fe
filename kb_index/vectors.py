"""The dense side of the index: passage vectors by id, searchable by inner product.

Exact search (a flat scan) while the store is small; past ``approx_threshold`` vectors an IVF
index (8-bit scalar-quantised lists, candidates re-scored exactly, so the cosines that reach the
fusion are the true ones) built in a background thread with a progress bar. Every add and remove
updates the serving index in place, so nothing waits for a rebuild: while one runs, searches use
the current index and the changes made meanwhile are replayed on the new index before it replaces
the old one, in order, so a removed vector never comes back and an edit is never lost.

Persisted under a directory (``var/index/store-<encoder>/``): a snapshot (vectors, ids, the
approximate index, and a manifest naming encoder and dimension, written to temporary files and
renamed) plus an append-only journal of the changes since, so a restart loads and replays instead
of re-encoding. Snapshots are written by the background job (at the threshold, when the store has
doubled since the last build, or when the journal has grown large), never in a search's way.

The IVF index itself is ``kb_index.ivf``'s; the files, ``kb_index.vector_files``'.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from kb_index.ivf import BuildStopped, build_ivf, no_results, search_rescored
from kb_index.vector_files import (
    FORMAT,
    Change,
    JournalWriter,
    journals,
    read_journal,
    read_manifest,
    read_snapshot,
    write_snapshot,
)

logger = logging.getLogger(__name__)

_JOURNAL_LIMIT = 256 * 1024 * 1024  # bytes of journal that make the next snapshot due


class VectorStoreError(Exception):
    """The vector store cannot do what was asked (wrong dimension, a closed store)."""


class VectorStore:
    """Vectors by 63-bit id: add (replacing an id), remove, search by inner product.

    Thread-safe. ``background=False`` builds the approximate index in the calling thread (tests
    and benchmarks); ``path`` persists the store; ``writable=False`` loads it without ever writing
    (another process owns the directory).
    """

    def __init__(
        self,
        dim: int,
        *,
        encoder: str,
        path: Path | None = None,
        writable: bool = True,
        approx_threshold: int = 20_000,
        nprobe: int | None = None,
        background: bool = True,
        progress: bool = True,
    ) -> None:
        self.dim = dim
        self.encoder = encoder
        self.approx_threshold = approx_threshold
        self._nprobe = nprobe
        self._background = background
        self._progress = progress
        self._lock = threading.RLock()
        self._vectors = np.zeros((1024, dim), dtype=np.float32)
        self._ids = np.full(1024, -1, dtype=np.int64)  # slot -> id; -1: a removed slot (only during a job)
        self._n = 0  # slots in use
        self._dead = 0  # removed slots not yet compacted
        self._slot: dict[int, int] = {}
        self._approx: faiss.Index | None = None
        self._approx_built_for = 0
        self._pending: list[Change] | None = None  # changes during a job
        self._thread: threading.Thread | None = None
        self._closing = False
        self._path = path
        self._writable = path is not None and writable
        self._journal: JournalWriter | None = None  # only a writable store journals its changes
        self._generation = 0
        if path is not None:
            self._load(path)
        with self._lock:
            self._maybe_start_job()

    # -- what is stored ----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, vector_id: int) -> bool:
        return int(vector_id) in self._slot

    def ids(self) -> set[int]:
        """Every stored id."""
        with self._lock:
            return set(self._slot)

    def get(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of ``ids``, in that order (KeyError for an id not stored)."""
        with self._lock:
            rows = [self._slot[int(i)] for i in ids]
            return self._vectors[rows].copy() if rows else np.zeros((0, self.dim), dtype=np.float32)

    @property
    def kind(self) -> str:
        """ "ivf" while the approximate index serves searches, else "exact"."""
        return "ivf" if self._approx is not None else "exact"

    @property
    def building(self) -> bool:
        """True while a background build (and snapshot) runs."""
        return self._pending is not None

    def describe(self) -> dict:
        """The serving index and its parameters, for logs and benchmarks."""
        with self._lock:
            out: dict = {"kind": self.kind, "vectors": len(self._slot), "approx_threshold": self.approx_threshold}
            if self._approx is not None:
                ivf = faiss.extract_index_ivf(self._approx)
                out.update(nlist=int(ivf.nlist), nprobe=int(ivf.nprobe), factory=f"IVF{ivf.nlist},SQ8")
            return out

    # -- changes -----------------------------------------------------------------------------

    def add(self, ids: np.ndarray | list[int], vectors: np.ndarray) -> None:
        """Store ``vectors`` under ``ids``; an id already stored gets the new vector."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), -1)
        if vectors.shape[1] != self.dim:
            raise VectorStoreError(f"vectors of dimension {vectors.shape[1]} given to a store of dimension {self.dim}")
        if len(set(ids.tolist())) != len(ids):
            raise VectorStoreError("the same id twice in one add")
        if not len(ids):
            return
        with self._lock:
            self._check_open()
            self._apply_add(ids, vectors)
            self._log(b"A", ids, vectors)
            self._maybe_start_job()

    def remove(self, ids: np.ndarray | list[int]) -> None:
        """Forget these ids (ids not stored are ignored)."""
        with self._lock:
            self._check_open()
            present = np.array(
                [i for i in np.asarray(ids, dtype=np.int64).reshape(-1).tolist() if i in self._slot], dtype=np.int64
            )
            if not len(present):
                return
            self._apply_remove(present)
            self._log(b"R", present, None)
            self._maybe_start_job()

    def _apply_add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        existing = np.array([i for i in ids.tolist() if i in self._slot], dtype=np.int64)
        if len(existing):
            self._apply_remove(existing, log_pending=False)
        if self._n + len(ids) > len(self._ids):
            capacity = max(self._n + len(ids), int(len(self._ids) * 1.5))
            # A new array: a running build keeps reading the old one, whose rows it needs never change.
            vectors_new = np.empty((capacity, self.dim), dtype=np.float32)
            vectors_new[: self._n] = self._vectors[: self._n]
            ids_new = np.full(capacity, -1, dtype=np.int64)
            ids_new[: self._n] = self._ids[: self._n]
            self._vectors, self._ids = vectors_new, ids_new
        start = self._n
        self._vectors[start : start + len(ids)] = vectors
        self._ids[start : start + len(ids)] = ids
        for offset, vector_id in enumerate(ids.tolist()):
            self._slot[vector_id] = start + offset
        self._n += len(ids)
        if self._approx is not None:
            self._approx.add_with_ids(vectors, ids)
        if self._pending is not None:
            self._pending.append((b"A", ids.copy(), vectors.copy()))

    def _apply_remove(self, ids: np.ndarray, *, log_pending: bool = True) -> None:
        for vector_id in ids.tolist():
            slot = self._slot.pop(vector_id)
            if self._pending is not None:
                # A build is reading rows [0, n at its start): mark the slot instead of moving rows.
                self._ids[slot] = -1
                self._dead += 1
                continue
            last = self._n - 1
            if slot != last:
                self._vectors[slot] = self._vectors[last]
                moved = int(self._ids[last])
                self._ids[slot] = moved
                self._slot[moved] = slot
            self._ids[last] = -1
            self._n -= 1
        if self._approx is not None:
            self._approx.remove_ids(ids)
        if self._pending is not None and log_pending:
            self._pending.append((b"R", ids.copy(), None))

    def _compact(self) -> None:
        """Close the gaps left by removals during a job, moving the last rows into them (a copy of
        the whole array would double the memory for a moment)."""
        if not self._dead:
            return
        for hole in np.flatnonzero(self._ids[: self._n] < 0).tolist():  # ascending
            while self._n and self._ids[self._n - 1] < 0:
                self._n -= 1
            if hole >= self._n:
                break
            last = self._n - 1
            self._vectors[hole] = self._vectors[last]
            moved = int(self._ids[last])
            self._ids[hole] = moved
            self._slot[moved] = hole
            self._ids[last] = -1
            self._n -= 1
        while self._n and self._ids[self._n - 1] < 0:
            self._n -= 1
        self._dead = 0

    # -- search ------------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best ids per query, best first, with their inner products (exact values even
        from the approximate index); missing places hold id -1 and score -inf."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        with self._lock:
            if self._approx is not None:
                return self._search_approx(self._approx, queries, k)
            return self._search_exact(queries, k)

    def exact_search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Like ``search``, always by a full scan (the reference the approximate index is measured by)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        with self._lock:
            return self._search_exact(queries, k)

    def _search_exact(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = no_results(len(queries), k)
        if not self._n:
            return scores, ids
        wanted = min(k + self._dead, self._n)
        found_scores, slots = faiss.knn(queries, self._vectors[: self._n], wanted, metric=faiss.METRIC_INNER_PRODUCT)
        for row in range(len(queries)):
            row_ids = self._ids[slots[row][slots[row] >= 0]]
            row_scores = found_scores[row][slots[row] >= 0]
            keep = row_ids >= 0  # removed during a job
            row_ids, row_scores = row_ids[keep][:k], row_scores[keep][:k]
            ids[row, : len(row_ids)] = row_ids
            scores[row, : len(row_ids)] = row_scores
        return scores, ids

    def _search_approx(self, approx: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return search_rescored(approx, queries, k, vectors=self._vectors, slot=self._slot)

    # -- the background job: snapshot and approximate index -------------------------------------

    def _maybe_start_job(self) -> None:
        if self._pending is not None or self._closing:
            return
        live = len(self._slot)
        if self._approx is not None and live < self.approx_threshold // 2:
            self._approx = None  # small again: exact search is fast and exact
        wants_approx = live >= self.approx_threshold
        due = (
            (wants_approx and self._approx is None)
            or (wants_approx and live > 2 * self._approx_built_for)
            or (self._journal is not None and self._journal.bytes > max(_JOURNAL_LIMIT, 4 * self._n * self.dim))
        )
        if due:
            self._start_job(wants_approx)

    def _start_job(self, approx: bool) -> None:
        self._compact()
        n0 = self._n
        ids0 = self._ids[:n0].copy()
        vectors = self._vectors  # rows [0, n0) stay as they are until the job ends (removals only mark)
        pending: list[Change] = []  # the job's changes, kept while it runs
        self._pending = pending
        generation = self._open_journal() if self._writable else None
        args = (n0, ids0, vectors, generation, approx, pending)
        if self._background:
            self._thread = threading.Thread(target=self._run_job, args=args, name="kb-vector-build", daemon=True)
            self._thread.start()
        else:
            self._run_job(*args)

    def _run_job(
        self,
        n0: int,
        ids0: np.ndarray,
        vectors: np.ndarray,
        generation: int | None,
        approx: bool,
        pending: list[Change],
    ) -> None:
        try:
            index = (
                build_ivf(vectors[:n0], ids0, nprobe=self._nprobe, progress=self._progress, stopping=lambda: self._closing)
                if approx
                else None
            )
            if generation is not None:
                self._write_snapshot(generation, vectors[:n0], ids0, index)
            with self._lock:
                if index is not None:
                    for op, ids, added in pending:
                        index.remove_ids(ids)
                        if op == b"A":
                            index.add_with_ids(added, ids)
                    self._approx, self._approx_built_for = index, n0
                self._pending = None
                self._compact()
        except BuildStopped:
            with self._lock:
                self._pending = None
                self._compact()
        except Exception:  # the store keeps serving with what it has; the next change retries
            logger.exception("building the vector index failed; searches go on with the current one")
            with self._lock:
                self._pending = None
                self._compact()

    # -- persistence -------------------------------------------------------------------------

    @property
    def _dir(self) -> Path:
        """The store's directory; only a store kept on disk has files and journals."""
        if self._path is None:
            raise RuntimeError("this vector store is kept in memory only: it has no files")
        return self._path

    def _load(self, path: Path) -> None:
        """Take back the last snapshot and replay the journals written since (a writable store
        then starts a journal of its own)."""
        path.mkdir(parents=True, exist_ok=True)
        manifest = read_manifest(path)
        fresh = manifest is None
        if manifest is not None and (
            manifest.get("format") != FORMAT or manifest.get("encoder") != self.encoder or manifest.get("dim") != self.dim
        ):
            logger.warning(
                "vector store in %s was made for %s (dim %s); starting empty for %s (dim %d)",
                path,
                manifest.get("encoder"),
                manifest.get("dim"),
                self.encoder,
                self.dim,
            )
            fresh = True
            self._generation = max([int(manifest.get("generation", 0)), *(g for g, _ in journals(path))]) + 1
        elif manifest is not None:
            self._generation = int(manifest["generation"])
            self._load_snapshot(path)
            self._replay_journals(path)
        if self._writable:
            if fresh:  # a manifest for this encoder first, so the journal below is never read as another's
                self._write_snapshot(self._generation, self._vectors[:0], self._ids[:0].copy(), None)
            self._open_journal()

    def _load_snapshot(self, path: Path) -> None:
        ids, vectors, approx = read_snapshot(path, self._generation)
        self._vectors = np.empty((max(1024, int(len(ids) * 1.25)), self.dim), dtype=np.float32)
        self._vectors[: len(ids)] = vectors
        self._ids = np.full(len(self._vectors), -1, dtype=np.int64)
        self._ids[: len(ids)] = ids
        self._n = len(ids)
        self._slot = {int(i): s for s, i in enumerate(ids.tolist())}
        if approx is not None:
            self._approx = approx
            self._approx_built_for = self._n
            if self._nprobe:
                faiss.extract_index_ivf(self._approx).nprobe = self._nprobe

    def _replay_journals(self, path: Path) -> None:
        for journal_generation, journal in journals(path):
            if journal_generation >= self._generation:
                for _op, ids, vectors in read_journal(journal, self.dim):
                    if vectors is not None:  # an addition (b"A") carries its vectors
                        self._apply_add(ids, vectors)
                    else:
                        present = np.array([i for i in ids.tolist() if i in self._slot], dtype=np.int64)
                        if len(present):
                            self._apply_remove(present)

    def _open_journal(self) -> int:
        """Start a new journal (changes from now on) and return its generation."""
        if self._journal is None:
            self._journal = JournalWriter(self._dir)
        return self._journal.start(self._generation)

    def _log(self, op: bytes, ids: np.ndarray, vectors: np.ndarray | None) -> None:
        if self._journal is not None:
            self._journal.write(op, ids, vectors)

    def _write_snapshot(self, generation: int, vectors: np.ndarray, ids: np.ndarray, approx: faiss.Index | None) -> None:
        write_snapshot(self._dir, generation, vectors, ids, approx, encoder=self.encoder, dim=self.dim)
        self._generation = generation

    # -- lifecycle ---------------------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a running background build; True when none is running any more."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _check_open(self) -> None:
        if self._closing:
            raise VectorStoreError("the vector store is closed")

    def close(self) -> None:
        """Stop a running build (its work is lost; the journal keeps every change) and close the journal."""
        self._closing = True
        self.wait()
        with self._lock:
            if self._journal is not None:
                self._journal.close()
