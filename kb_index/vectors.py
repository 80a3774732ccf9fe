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

Why IVF and not HNSW: measured here (``bench/kb_scale.py``), IVF builds a million vectors in
about a minute on one thread where HNSW takes many, it supports removal (HNSW does not), and it
meets the latency and recall targets.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import re
import struct
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

import faiss
import numpy as np
from tqdm import tqdm

logger = logging.getLogger(__name__)

_FORMAT = 1
_RECORD = struct.Struct("<cQ")  # op (b"A" add, b"R" remove), how many ids
_BUILD_CHUNK = 20_000  # vectors added to the new index per step (a progress tick, a chance to stop)
_JOURNAL_LIMIT = 256 * 1024 * 1024  # bytes of journal that make the next snapshot due


class VectorStoreError(Exception):
    """The vector store cannot do what was asked (wrong dimension, a closed store)."""


def lock_directory(path: Path) -> IO[bytes] | None:
    """Take the write lock of an index directory: the open lock file, or None when another
    process (or another index in this one) holds it. One writer per directory; others read."""
    path.mkdir(parents=True, exist_ok=True)
    handle = open(path / "lock", "ab")  # noqa: SIM115 - the open file is the lock: the caller keeps it
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def replace_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write through ``write`` to a temporary file beside ``path``, then rename it over ``path``:
    a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _Stopped(Exception):
    """The store was closed while a build was running."""


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
        self._pending: list[tuple[bytes, np.ndarray, np.ndarray | None]] | None = None  # changes during a job
        self._thread: threading.Thread | None = None
        self._closing = False
        self._path = path
        self._writable = path is not None and writable
        self._journal: IO[bytes] | None = None
        self._journal_bytes = 0
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

    def _empty(self, rows: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        return np.full((rows, k), -np.inf, dtype=np.float32), np.full((rows, k), -1, dtype=np.int64)

    def _search_exact(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = self._empty(len(queries), k)
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
        scores, ids = self._empty(len(queries), k)
        # Twice as many candidates as asked, re-scored with the stored vectors: the 8-bit codes
        # only have to put the true best among them, and the scores returned are exact cosines.
        wanted = min(2 * k + 16, len(self._slot))
        if not wanted:
            return scores, ids
        _, candidates = approx.search(queries, wanted)
        for row in range(len(queries)):
            found = [i for i in candidates[row].tolist() if i >= 0]
            slots = np.array([self._slot[i] for i in found], dtype=np.int64)
            exact = self._vectors[slots] @ queries[row]
            order = np.argsort(-exact, kind="stable")[:k]
            ids[row, : len(order)] = np.array(found, dtype=np.int64)[order]
            scores[row, : len(order)] = exact[order]
        return scores, ids

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
            or (self._writable and self._journal_bytes > max(_JOURNAL_LIMIT, 4 * self._n * self.dim))
        )
        if due:
            self._start_job(wants_approx)

    def _start_job(self, approx: bool) -> None:
        self._compact()
        n0 = self._n
        ids0 = self._ids[:n0].copy()
        vectors = self._vectors  # rows [0, n0) stay as they are until the job ends (removals only mark)
        pending: list[tuple[bytes, np.ndarray, np.ndarray | None]] = []  # the job's changes, kept while it runs
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
        pending: list[tuple[bytes, np.ndarray, np.ndarray | None]],
    ) -> None:
        try:
            index = self._build_approx(vectors[:n0], ids0) if approx else None
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
        except _Stopped:
            with self._lock:
                self._pending = None
                self._compact()
        except Exception:  # the store keeps serving with what it has; the next change retries
            logger.exception("building the vector index failed; searches go on with the current one")
            with self._lock:
                self._pending = None
                self._compact()

    def _build_approx(self, vectors: np.ndarray, ids: np.ndarray) -> faiss.Index:
        n = len(vectors)
        # About sqrt(n) lists (a power of two), trained on 40 points a list, 10 k-means rounds:
        # a million vectors train and fill in about a minute on one thread.
        nlist = int(min(4096, max(16, 2 ** round(math.log2(math.sqrt(max(n, 1)))))))
        nlist = max(1, min(nlist, n // 4))  # a tiny store (tests) still trains: at least 4 points a list
        index = faiss.index_factory(self.dim, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
        ivf = faiss.extract_index_ivf(index)
        ivf.cp.niter = 10
        ivf.cp.max_points_per_centroid = 40  # faiss asks for at least 39 points a list
        # Measured (bench/kb_scale.py): at 1M vectors and 1024 lists, 12 lists give recall@10 0.987
        # in about 2.5 ms of CPU; 64 gave 0.999 in 11.5 ms.
        ivf.nprobe = self._nprobe or max(8, nlist // 80)
        bar = tqdm(total=n, desc=f"vector index IVF{nlist}", unit="vec", disable=not self._progress, mininterval=2)
        try:
            sample = np.random.default_rng(0).choice(n, size=min(n, nlist * 40), replace=False)
            bar.set_postfix_str("training")
            index.train(vectors[np.sort(sample)])
            ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # removal by id without scanning the lists
            bar.set_postfix_str("adding")
            for start in range(0, n, _BUILD_CHUNK):
                if self._closing:
                    raise _Stopped
                chunk_ids = ids[start : start + _BUILD_CHUNK]
                index.add_with_ids(np.ascontiguousarray(vectors[start : start + _BUILD_CHUNK]), chunk_ids)
                bar.update(len(chunk_ids))
        finally:
            bar.close()
        return index

    # -- persistence -------------------------------------------------------------------------

    @property
    def _dir(self) -> Path:
        """The store's directory; only a store kept on disk has files and journals."""
        if self._path is None:
            raise RuntimeError("this vector store is kept in memory only: it has no files")
        return self._path

    def _files(self, generation: int) -> dict[str, Path]:
        return {
            "vectors": self._dir / f"vectors.{generation}.npy",
            "ids": self._dir / f"ids.{generation}.npy",
            "approx": self._dir / f"approx.{generation}.faiss",
        }

    def _journals(self) -> list[tuple[int, Path]]:
        found = []
        for path in self._dir.glob("journal.*.bin"):
            match = re.fullmatch(r"journal\.(\d+)\.bin", path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    def _load(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        manifest_path = path / "manifest.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
        fresh = manifest is None
        if manifest is not None and (
            manifest.get("format") != _FORMAT or manifest.get("encoder") != self.encoder or manifest.get("dim") != self.dim
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
            self._generation = max([int(manifest.get("generation", 0)), *(g for g, _ in self._journals())]) + 1
        elif manifest is not None:
            self._generation = int(manifest["generation"])
            files = self._files(self._generation)
            ids = np.load(files["ids"])
            self._vectors = np.empty((max(1024, int(len(ids) * 1.25)), self.dim), dtype=np.float32)
            self._vectors[: len(ids)] = np.load(files["vectors"], mmap_mode="r")
            self._ids = np.full(len(self._vectors), -1, dtype=np.int64)
            self._ids[: len(ids)] = ids
            self._n = len(ids)
            self._slot = {int(i): s for s, i in enumerate(ids.tolist())}
            if files["approx"].exists():
                self._approx = faiss.read_index(str(files["approx"]))
                self._approx_built_for = self._n
                if self._nprobe:
                    faiss.extract_index_ivf(self._approx).nprobe = self._nprobe
            for journal_generation, journal in self._journals():
                if journal_generation >= self._generation:
                    for _op, ids, vectors in self._read_journal(journal):
                        if vectors is not None:  # an addition (b"A") carries its vectors
                            self._apply_add(ids, vectors)
                        else:
                            present = np.array([i for i in ids.tolist() if i in self._slot], dtype=np.int64)
                            if len(present):
                                self._apply_remove(present)
        if self._writable:
            if fresh:  # a manifest for this encoder first, so the journal below is never read as another's
                self._write_snapshot(self._generation, self._vectors[:0], self._ids[:0].copy(), None)
            self._open_journal()

    def _read_journal(self, path: Path) -> Iterator[tuple[bytes, np.ndarray, np.ndarray | None]]:
        data = path.read_bytes()
        offset = 0
        while offset + _RECORD.size <= len(data):
            op, count = _RECORD.unpack_from(data, offset)
            size = count * 8 + (count * self.dim * 4 if op == b"A" else 0)
            if offset + _RECORD.size + size > len(data):
                break  # a record cut short by a crash: it was never acknowledged
            body = offset + _RECORD.size
            ids = np.frombuffer(data, dtype=np.int64, count=count, offset=body).copy()
            vectors = None
            if op == b"A":
                vectors = np.frombuffer(data, dtype=np.float32, count=count * self.dim, offset=body + count * 8)
                vectors = vectors.reshape(count, self.dim).copy()
            yield op, ids, vectors
            offset = body + size

    def _open_journal(self) -> int:
        """Start a new journal (changes from now on) and return its generation."""
        if self._journal is not None:
            self._journal.close()
        generation = max([self._generation, *(g for g, _ in self._journals())]) + 1
        self._journal = open(self._dir / f"journal.{generation}.bin", "ab")  # noqa: SIM115 - appended to until the next compaction
        self._journal_bytes = 0
        return generation

    def _log(self, op: bytes, ids: np.ndarray, vectors: np.ndarray | None) -> None:
        if self._journal is None:
            return
        record = _RECORD.pack(op, len(ids)) + ids.tobytes() + (vectors.tobytes() if vectors is not None else b"")
        self._journal.write(record)
        # Flushed, not fsynced: after a crash the hub reconciles the store with the published
        # articles anyway, so an fsync per publish would buy nothing.
        self._journal.flush()
        self._journal_bytes += len(record)

    def _write_snapshot(self, generation: int, vectors: np.ndarray, ids: np.ndarray, approx: faiss.Index | None) -> None:
        """Files for ``generation`` (the state when its journal began), the manifest last, then
        the older generations' files go."""
        files = self._files(generation)
        replace_atomically(files["vectors"], lambda f: np.save(f, vectors))
        replace_atomically(files["ids"], lambda f: np.save(f, ids))
        if approx is not None:
            replace_atomically(files["approx"], lambda f: f.write(faiss.serialize_index(approx).tobytes()))
        manifest = {"format": _FORMAT, "encoder": self.encoder, "dim": self.dim, "generation": generation, "count": len(ids)}
        replace_atomically(self._dir / "manifest.json", lambda f: f.write(json.dumps(manifest, indent=2).encode()))
        self._generation = generation
        for old in self._dir.iterdir():
            match = re.fullmatch(r"(vectors|ids|approx|journal)\.(\d+)\.(npy|faiss|bin)", old.name)
            if match and int(match.group(2)) < generation:
                old.unlink(missing_ok=True)

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
                self._journal = None
