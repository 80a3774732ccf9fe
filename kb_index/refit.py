"""Refitting the thresholds as the knowledge base grows, and sharing them with every hub process.

Every change to an article is a new version (publishing, editing, an approved candidate question).
Once ``after`` versions were added since the calibration in force was fitted, a hub refits the
fusion weights and thresholds from the knowledge base alone (``kb_index.self_calibration``, in a
thread, off the event loop) and stores them in ``kb_calibrations``; every hub applies the newest
stored calibration of its encoder on its next check. The calibration file (shipped, or written by
``balcao kb calibrate``) is the baseline: at start, a file that differs from the last one stored is
stored as the newest calibration, so an explicit calibration always wins over an older refit.

Two hubs may refit at the same moment: both store the same numbers (the folds are fixed), the
later row wins; nothing is lost but a core's work for a while.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kb_index.index import KnowledgeIndex
from kb_index.models import ArticleVersion, StoredCalibration, utcnow
from kb_index.passages import EmbeddingCache
from kb_index.records import Calibration
from kb_index.self_calibration import fit_from_kb

logger = logging.getLogger(__name__)


async def version_count(session: AsyncSession) -> int:
    """How many article versions exist: the knowledge base's growth, as the refit counts it."""
    return int((await session.execute(select(func.count()).select_from(ArticleVersion))).scalar_one())


async def newest_calibration(session: AsyncSession, encoder: str, *, source: str | None = None) -> StoredCalibration | None:
    """The newest stored calibration of ``encoder`` (of ``source`` only, when given), or None."""
    stmt = select(StoredCalibration).where(StoredCalibration.encoder == encoder)
    if source is not None:
        stmt = stmt.where(StoredCalibration.source == source)
    return (await session.execute(stmt.order_by(StoredCalibration.id.desc()).limit(1))).scalar_one_or_none()


async def store_calibration(session: AsyncSession, calibration: Calibration, *, source: str, versions: int) -> StoredCalibration:
    """Keep ``calibration`` as the newest of its encoder, fitted when ``versions`` versions existed."""
    row = StoredCalibration(
        encoder=calibration.encoder, parameters=calibration.parameters(), source=source, versions=versions, fitted_at=utcnow()
    )
    session.add(row)
    await session.flush()
    return row


def calibration_of(row: StoredCalibration) -> Calibration:
    """The stored row as the index's calibration."""
    p = {k: float(v) for k, v in row.parameters.items()}
    calibration = Calibration(
        row.encoder,
        beta=p["beta"],
        kappa=p["kappa"],
        t_answer=p["t_answer"],
        t_clarify=p["t_clarify"],
        centroid=p.get("centroid", 0.0),
        head=p.get("head", 0.0),
        negative=p.get("negative", 0.0),
    )
    calibration.metrics = {"source": {row.source: 1.0, "versions": float(row.versions)}}
    return calibration


class Refitter:
    """One per hub process: applies the newest stored calibration, and refits when the knowledge
    base has grown by ``after`` versions (0: never refits, still applies what others stored)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        index: KnowledgeIndex,
        *,
        after: int,
        every_s: float,
        out_of_scope: Sequence[tuple[str, str]] = (),
        read_sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.sessions = sessions
        self.read_sessions = read_sessions or sessions
        self.index = index
        self.after = after
        self.every_s = every_s
        self.out_of_scope = list(out_of_scope)
        self.applied: int | None = None  # the id of the stored calibration in force here
        # Texts encoded for one refit serve the next (only what changed is encoded again).
        self._cache = EmbeddingCache(None)
        self._baseline_checked = False

    async def _store(self, calibration: Calibration, *, source: str, versions: int) -> None:
        async with self.sessions() as session, session.begin():
            row = await store_calibration(session, calibration, source=source, versions=versions)
        self.applied = row.id
        self.index.calibration = calibration_of(row)

    async def _baseline(self, versions: int) -> None:
        """The file's calibration, stored when it is not the last file calibration stored."""
        self._baseline_checked = True
        shipped = self.index.calibration
        if shipped is None:
            return
        async with self.read_sessions() as session:
            last_file = await newest_calibration(session, self.index.encoder_name, source="file")
        if last_file is None or last_file.parameters != shipped.parameters():
            await self._store(shipped, source="file", versions=versions)

    async def check(self) -> bool:
        """One round: apply the newest stored calibration; refit when grown enough. True when it refitted."""
        async with self.read_sessions() as session:
            versions = await version_count(session)
        if not self._baseline_checked:
            await self._baseline(versions)
        async with self.read_sessions() as session:
            newest = await newest_calibration(session, self.index.encoder_name)
        if newest is not None and newest.id != self.applied:
            self.applied = newest.id
            self.index.calibration = calibration_of(newest)
        grown = versions - (newest.versions if newest is not None else 0)
        if self.after <= 0 or grown < self.after:
            return False
        try:
            calibration = await asyncio.to_thread(
                fit_from_kb, self.index.articles(), self.index.encoder, self.out_of_scope, cache=self._cache
            )
        except ValueError as exc:  # too few articles or questions to fit on yet
            logger.info("knowledge base grew by %d versions; not refitted: %s", grown, exc)
            return False
        await self._store(calibration, source="kb_alone", versions=versions)
        logger.info("knowledge base grew by %d versions: thresholds refitted from it (%s)", grown, calibration.parameters())
        return True

    async def run(self) -> None:
        """Check every ``every_s`` until cancelled."""
        while True:
            try:
                await self.check()
            except Exception:  # keep checking; a database hiccup must not stop the refits
                logger.exception("knowledge base: checking the calibration failed")
            await asyncio.sleep(self.every_s)
