"""Keeps this process's knowledge-base index in step with the database.

Every change to an article appends a row to kb_index's ``article_changes`` log in the same
transaction. Each hub process follows the log: right after its own commits (so an editor's publish
is answerable at once here) and every ``BALCAO_KB_POLL_SECONDS`` (0.1 s) for the other processes'
changes — so a publish reaches every replica within a second, with no restart and no broker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kb_index.articles import apply_to_index, changes_after, indexable, last_change_seq, prune_changes
from kb_index.index import KnowledgeIndex

logger = logging.getLogger(__name__)
# A sequence number seen missing for this long belongs to a transaction that rolled back (or a
# writer that died): stop waiting for it. Transactions commit out of sequence order on PostgreSQL,
# so a missing number is first assumed to be still in flight.
GAP_PATIENCE_S = 30.0
# The log only has to outlive the slowest running hub's poll (a fraction of a second; GAP_PATIENCE_S
# at worst), so a day is generous; each hub prunes it now and then (the same delete twice is harmless).
CHANGE_LOG_KEEP = timedelta(days=1)
PRUNE_EVERY_S = 600.0


class IndexFollower:
    """Applies the article change log to one ``KnowledgeIndex``."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        index: KnowledgeIndex,
        *,
        poll_seconds: float,
        read_sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.sessions = sessions
        # The log is read ten times a second: in read sessions, which take no write lock on SQLite.
        self.read_sessions = read_sessions or sessions
        self.index = index
        self.poll_seconds = poll_seconds
        self.floor = 0  # every change up to here is applied
        self._seen: set[int] = set()  # applied changes above the floor (waiting for a gap below them)
        self._gaps: dict[int, float] = {}  # missing sequence number → when it was first missed
        self._lock = asyncio.Lock()

    async def start_at_current(self) -> None:
        """Start following from the newest change (call before loading the index, so nothing that
        happens while it loads is missed; applying a change twice is harmless)."""
        async with self.read_sessions() as session:
            self.floor = await last_change_seq(session)

    async def catch_up(self) -> int:
        """Apply the changes not applied yet; returns how many articles changed in the index."""
        async with self._lock:
            async with self.read_sessions() as session:
                changes = [c for c in await changes_after(session, self.floor) if c.seq not in self._seen]
                if not changes:
                    return 0
                wanted = await indexable(session, {(c.article_id, c.lang) for c in changes})
            changed = await asyncio.to_thread(apply_to_index, self.index, wanted)
            self._seen.update(c.seq for c in changes)
            self._advance()
            return changed

    def _advance(self) -> None:
        now = time.monotonic()
        top = max(self._seen, default=self.floor)
        for seq in range(self.floor + 1, top + 1):
            if seq in self._seen:
                self._seen.discard(seq)
                self._gaps.pop(seq, None)
                self.floor = seq
                continue
            first_missed = self._gaps.setdefault(seq, now)
            if now - first_missed < GAP_PATIENCE_S:
                return
            self._gaps.pop(seq)
            self.floor = seq

    async def prune(self) -> int:
        """Delete the log's rows older than ``CHANGE_LOG_KEEP``; returns how many went."""
        async with self.sessions() as session, session.begin():
            return await prune_changes(session, older_than=CHANGE_LOG_KEEP)

    async def run(self) -> None:
        """Poll the change log until cancelled (and prune it every ``PRUNE_EVERY_S``)."""
        pruned_at = time.monotonic()
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.catch_up()
                if time.monotonic() - pruned_at > PRUNE_EVERY_S:
                    pruned_at = time.monotonic()
                    await self.prune()
            except Exception:  # keep following; a database hiccup must not stop the updates
                logger.exception("knowledge-base change log: catching up failed")
