"""A customer's question searched in the knowledge base while Rasa is still reading it.

Most customer turns end in the knowledge-base action (``action_kb_answer``), which Rasa calls back
only after its own NLU and policies have run; the search that action makes is mostly the encoding
of the question (about 20 ms on one thread). ``EarlySearches`` starts that search as soon as the
hub has stored the message, in a worker thread, so on a machine with a free core it runs beside
Rasa's turn; when the action asks about the same conversation, text and language, it takes that
result instead of searching again. When the action asks about anything else, comes after the
entry expired, lands on another hub replica, or the early search failed, it simply searches
itself: an early search only ever saves time.

An early search pays only when a core is idle. It is therefore started only when no other turn
of this hub is waiting for Rasa (``turn``): with several customers writing at once, the cores are
busy with their turns, and early searches would only queue up in front of the actions (started
for every turn, they made the 95th percentile at 10 customers at once worse in bench/turn_latency.py). Early searches run in a thread of their
own, one at a time (the index encodes one question at a time anyway), not in the shared workers.

The entries are few and short-lived: the turn that started one forgets it when it ends (Rasa did
not call the action: a greeting, a "yes"), at most ``most`` are kept, and none older than
``keep_s``. Button payloads and channel commands (``/affirm``) and one-word messages ("oi",
"obrigado", a survey's "9") are not searched early: they rarely reach the action, and a wasted
search costs a whole encoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kb_index import KnowledgeIndex, SearchResult

logger = logging.getLogger(__name__)

Key = tuple[str, str, str]  # conversation id, the text Rasa reads (stripped), language


@dataclass(frozen=True)
class _Early:
    search: asyncio.Future[SearchResult]
    started: float


def worth_searching_early(text: str) -> bool:
    """Whether a text Rasa is about to read is likely to reach the knowledge-base action: not a
    payload or command (``/…``), and more than one word."""
    text = text.strip()
    return not text.startswith("/") and len(text.split()) > 1


class EarlySearches:
    """Searches started by the hub's turns, taken by the knowledge-base action of the same turn."""

    def __init__(
        self,
        index: KnowledgeIndex,
        *,
        keep_s: float = 60.0,
        most: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.index = index
        self.keep_s = keep_s
        self.most = most
        self.clock = clock
        self._early: dict[Key, _Early] = {}
        self._turns = 0  # this hub's turns waiting for Rasa
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-early-search")

    def __len__(self) -> int:
        return len(self._early)

    @contextlib.asynccontextmanager
    async def turn(self, conversation_id: str, text: str, lang: str, *, search: bool = True) -> AsyncIterator[None]:
        """A turn waiting for Rasa: its question is searched early (``search``) when no other turn of
        this hub is waiting, and its entry is forgotten when the turn ends."""
        if search and not self._turns:
            self.start(conversation_id, text, lang)
        self._turns += 1
        try:
            yield
        finally:
            self._turns -= 1
            self.forget(conversation_id, text, lang)

    def start(self, conversation_id: str, text: str, lang: str) -> None:
        """Search ``text`` now, in a worker thread, for the action of this conversation's turn."""
        if not worth_searching_early(text):
            return
        key = (conversation_id, text.strip(), lang)
        self._forget_expired()
        if key in self._early:
            return
        while len(self._early) >= self.most:  # the oldest first (dicts keep insertion order)
            self._early.pop(next(iter(self._early)))
        search = asyncio.get_running_loop().run_in_executor(self._thread, self.index.search, key[1], lang)
        search.add_done_callback(_failure_noted)
        self._early[key] = _Early(search, self.clock())

    async def take(self, conversation_id: str, text: str, lang: str) -> SearchResult | None:
        """The result of the early search of this question (awaited if it is still running), or
        ``None`` when there is none to use: the caller searches itself."""
        early = self._early.pop((conversation_id, text.strip(), lang), None)
        if early is None or self.clock() - early.started > self.keep_s:
            return None
        try:
            # Shielded: a cancelled caller leaves the thread's result to nobody, not half-done.
            return await asyncio.shield(early.search)
        except asyncio.CancelledError:
            raise
        except Exception:  # logged by _failure_noted; the action searches itself
            return None

    def forget(self, conversation_id: str, text: str, lang: str) -> None:
        """The turn is over: its early search, if the action did not take it, is not needed."""
        self._early.pop((conversation_id, text.strip(), lang), None)

    def close(self) -> None:
        """Stop the early searches' thread (when the hub stops); a search under way finishes first."""
        self._thread.shutdown(wait=False, cancel_futures=True)

    def _forget_expired(self) -> None:
        now = self.clock()
        for key in [k for k, e in self._early.items() if now - e.started > self.keep_s]:
            del self._early[key]


def _failure_noted(search: asyncio.Future[SearchResult]) -> None:
    """Log an early search that failed (the action's own search will say more if it fails too)."""
    if not search.cancelled() and search.exception() is not None:
        logger.warning("early knowledge-base search failed: %r", search.exception())
