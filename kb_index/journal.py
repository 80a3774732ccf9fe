"""The articles an index holds, kept beside its vectors so a restart knows what it loaded.

One JSON line per change (``{"put": {...}}`` or ``{"delete": [id, lang]}``) appended to
``articles.jsonl``; when the file holds many more lines than live articles it is rewritten (to a
temporary file, then renamed). A line cut short by a crash is skipped: the hub reconciles the
index with the published articles at start anyway.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

from kb_index.vector_files import replace_atomically

logger = logging.getLogger(__name__)


class ArticleJournal:
    """Articles (as plain dicts) by (id, language), in an append-only file."""

    def __init__(self, path: Path, *, writable: bool) -> None:
        self._path = path
        self._writable = writable
        self._lines = 0
        self._handle: TextIO | None = None

    def load(self) -> dict[tuple[str, str], dict]:
        """The articles the file describes, in the order last written."""
        articles: dict[tuple[str, str], dict] = {}
        if self._path.exists():
            for line in self._path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    logger.warning("skipping a damaged line of %s", self._path)
                    continue
                if "put" in entry:
                    article = entry["put"]
                    articles[(article["id"], article["lang"])] = article
                elif "delete" in entry:
                    articles.pop(tuple(entry["delete"]), None)
                self._lines += 1
        if self._writable:
            self._handle = open(self._path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for appends until close()
        return articles

    def record(
        self,
        *,
        put: Iterable[dict] = (),
        delete: Iterable[tuple[str, str]] = (),
        live: int,
        everything: Callable[[], Iterable[dict]],
    ) -> None:
        """Append these changes; rewrite the file from ``everything()`` when it has grown to more
        than twice the ``live`` articles."""
        if self._handle is None:
            return
        lines = [json.dumps({"put": article}, ensure_ascii=False) for article in put]
        lines += [json.dumps({"delete": list(key)}) for key in delete]
        if not lines:
            return
        self._handle.write("\n".join(lines) + "\n")
        self._handle.flush()
        self._lines += len(lines)
        if self._lines > 2 * live + 1000:
            rows = [json.dumps({"put": article}, ensure_ascii=False) for article in everything()]
            self._handle.close()
            replace_atomically(self._path, lambda f: f.write(("\n".join(rows) + "\n" if rows else "").encode()))
            self._handle = open(self._path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for appends until close()
            self._lines = len(rows)

    def close(self) -> None:
        """Stop writing."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
