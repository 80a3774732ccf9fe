"""The vector store's files in its directory (``var/index/store-<encoder>/``): the write lock, a
snapshot per generation (vectors, ids, the approximate index, and a manifest naming encoder and
dimension, each written to a temporary file and renamed) and the append-only journal of the changes
made since that snapshot."""

from __future__ import annotations

import fcntl
import json
import os
import re
import struct
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import faiss
import numpy as np

FORMAT = 1
RECORD = struct.Struct("<cQ")  # op (b"A" add, b"R" remove), how many ids
# One change in a journal: its op, its ids, and for an addition its vectors.
Change = tuple[bytes, np.ndarray, np.ndarray | None]


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


def snapshot_files(directory: Path, generation: int) -> dict[str, Path]:
    """The files of one generation's snapshot (the approximate index only when there is one)."""
    return {
        "vectors": directory / f"vectors.{generation}.npy",
        "ids": directory / f"ids.{generation}.npy",
        "approx": directory / f"approx.{generation}.faiss",
    }


def read_manifest(directory: Path) -> dict | None:
    """The manifest of the last snapshot, or None in a new directory."""
    path = directory / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def journals(directory: Path) -> list[tuple[int, Path]]:
    """The journals in the directory with their generations, oldest first."""
    found = []
    for path in directory.glob("journal.*.bin"):
        match = re.fullmatch(r"journal\.(\d+)\.bin", path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def journal_record(op: bytes, ids: np.ndarray, vectors: np.ndarray | None) -> bytes:
    """One change as the journal stores it."""
    return RECORD.pack(op, len(ids)) + ids.tobytes() + (vectors.tobytes() if vectors is not None else b"")


def read_journal(path: Path, dim: int) -> Iterator[Change]:
    """The changes a journal holds, in order; a record cut short by a crash ends it."""
    data = path.read_bytes()
    offset = 0
    while offset + RECORD.size <= len(data):
        op, count = RECORD.unpack_from(data, offset)
        size = count * 8 + (count * dim * 4 if op == b"A" else 0)
        if offset + RECORD.size + size > len(data):
            break  # a record cut short by a crash: it was never acknowledged
        body = offset + RECORD.size
        ids = np.frombuffer(data, dtype=np.int64, count=count, offset=body).copy()
        vectors = None
        if op == b"A":
            vectors = np.frombuffer(data, dtype=np.float32, count=count * dim, offset=body + count * 8)
            vectors = vectors.reshape(count, dim).copy()
        yield op, ids, vectors
        offset = body + size


def write_snapshot(
    directory: Path,
    generation: int,
    vectors: np.ndarray,
    ids: np.ndarray,
    approx: faiss.Index | None,
    *,
    encoder: str,
    dim: int,
) -> None:
    """Files for ``generation`` (the state when its journal began), the manifest last, then
    the older generations' files go."""
    files = snapshot_files(directory, generation)
    replace_atomically(files["vectors"], lambda f: np.save(f, vectors))
    replace_atomically(files["ids"], lambda f: np.save(f, ids))
    if approx is not None:
        replace_atomically(files["approx"], lambda f: f.write(faiss.serialize_index(approx).tobytes()))
    manifest = {"format": FORMAT, "encoder": encoder, "dim": dim, "generation": generation, "count": len(ids)}
    replace_atomically(directory / "manifest.json", lambda f: f.write(json.dumps(manifest, indent=2).encode()))
    for old in directory.iterdir():
        match = re.fullmatch(r"(vectors|ids|approx|journal)\.(\d+)\.(npy|faiss|bin)", old.name)
        if match and int(match.group(2)) < generation:
            old.unlink(missing_ok=True)


def read_snapshot(directory: Path, generation: int) -> tuple[np.ndarray, np.ndarray, faiss.Index | None]:
    """One generation's ids, vectors (mapped, not read) and approximate index (if it had one)."""
    files = snapshot_files(directory, generation)
    approx = faiss.read_index(str(files["approx"])) if files["approx"].exists() else None
    return np.load(files["ids"]), np.load(files["vectors"], mmap_mode="r"), approx


class JournalWriter:
    """The journal changes are appended to, one file per generation."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.bytes = 0  # written to the current journal
        self._file: IO[bytes] | None = None

    def start(self, after: int) -> int:
        """Start a new journal (changes from now on), numbered past ``after`` and every journal in
        the directory, and return its generation."""
        self.close()
        generation = max([after, *(g for g, _ in journals(self.directory))]) + 1
        self._file = open(self.directory / f"journal.{generation}.bin", "ab")  # noqa: SIM115 - appended to until the next compaction
        self.bytes = 0
        return generation

    def write(self, op: bytes, ids: np.ndarray, vectors: np.ndarray | None) -> None:
        """Append one change (nothing before ``start``)."""
        if self._file is None:
            return
        record = journal_record(op, ids, vectors)
        self._file.write(record)
        # Flushed, not fsynced: after a crash the hub reconciles the store with the published
        # articles anyway, so an fsync per publish would buy nothing.
        self._file.flush()
        self.bytes += len(record)

    def close(self) -> None:
        """Close the current journal, if any."""
        if self._file is not None:
            self._file.close()
            self._file = None
