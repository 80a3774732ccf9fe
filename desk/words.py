"""The company's words as the desk uses them: what the admins set on ``/admin/settings``
(``handoff.words``) over the hub's settings and the built-in wording.

They are read per conversation turn and per opening widget page, through a small cache that every
replica forgets (``forget``) when the change's ``WordsChanged`` event reaches it after commit (over
the Redis relay for the other replicas), so a change is used at once, without a restart. The cache
also reads the table again once its copy is ``ttl`` seconds old: a replica that missed the event
(Redis was away) catches up within that time."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

import handoff
from core.languages import LANGUAGES
from desk.config import DeskSettings

DEFAULT_COLOUR = "#0b6e4f"


@dataclass(frozen=True)
class Words:
    """The words in force: each the admins' value when set, else the default."""

    company_name: str
    bot_name: str = ""
    widget_color: str | None = None  # None: the colour the shop's page gives the widget (or the default)
    languages: tuple[str, ...] = LANGUAGES
    greeting: dict[str, str] = field(default_factory=dict)
    out_of_hours: dict[str, str] = field(default_factory=dict)
    survey_question: dict[str, str] = field(default_factory=dict)
    survey_reason_question: dict[str, str] = field(default_factory=dict)

    def language(self, lang: str, default: str) -> str:
        """``lang`` when it is offered, else ``default`` when offered, else the first offered."""
        if lang in self.languages:
            return lang
        return default if default in self.languages else self.languages[0]


def words_over(settings: DeskSettings, stored: dict) -> Words:
    """The admins' ``stored`` words over the hub's ``settings`` (a wording per language)."""
    return Words(
        company_name=stored.get("company_name") or settings.company_name,
        bot_name=stored.get("bot_name") or "",
        widget_color=stored.get("widget_color") or None,
        languages=tuple(stored.get("languages") or LANGUAGES),
        greeting={**settings.widget_greeting, **(stored.get("greeting") or {})},
        out_of_hours=dict(stored.get("out_of_hours") or {}),
        survey_question={**settings.survey_question, **(stored.get("survey_question") or {})},
        survey_reason_question={**settings.survey_reason_question, **(stored.get("survey_reason_question") or {})},
    )


class WordsCache:
    """The words in force, read again when older than ``ttl`` seconds or forgotten."""

    def __init__(
        self,
        settings: DeskSettings,
        sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]],
        *,
        ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.ttl = ttl
        self.clock = clock
        self._stored: dict | None = None
        self._read_at = 0.0

    @property
    def current(self) -> Words:
        """The words as last read (the hub's settings before the first read), for code that
        cannot wait; a turn calls ``fresh`` first."""
        return words_over(self.settings, self._stored or {})

    async def fresh(self) -> Words:
        """The words in force, read from the database when the copy is stale."""
        if self._stored is None or self.clock() - self._read_at >= self.ttl:
            async with self.sessions() as session:
                self._stored = await handoff.read_words(session)
            self._read_at = self.clock()
        return self.current

    def forget(self) -> None:
        """The admins changed the words: the next use reads them again."""
        self._stored = None
