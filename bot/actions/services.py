"""What the actions need from the desk. The hub passes its ``desk.Desk`` to ``build_actions``,
so the actions stay thin: they call these and return events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kb_index import Hit, SearchResult


@dataclass(frozen=True)
class QueuedFor:
    """The team a conversation was handed to."""

    team_id: str
    name: str


class DeskServices(Protocol):
    async def search(self, question: str, lang: str, *, conversation_id: str | None = None) -> SearchResult:
        """Knowledge-base search with the answer / clarify / escalate decision; with the
        conversation, a question it cannot answer with confidence is kept for the editors."""

    async def article(self, article_id: str, lang: str, *, question: str = "") -> Hit | None:
        """One published article, in the customer's language when it exists, with the passage that
        best answers ``question`` (``Hit.passage``)."""

    async def next_answer(self, question: str, lang: str, *, tried: list[str]) -> Hit | None:
        """After a "no": the next article for the question when it is a plausible match, else None."""

    async def escalate(self, conversation_id: str, *, team: str, reason: str) -> QueuedFor:
        """Queue the conversation for a team (the reason sets the priority); returns the team it is
        queued for, with its name as the admins gave it (teams are data, not code)."""

    async def begin_ending(self, conversation_id: str, *, ending: str) -> bool:
        """Start the ending. True when the NPS question should be asked (never twice)."""

    async def finish_survey(self, conversation_id: str, *, score: int | None, reason: str | None) -> None:
        """Store the survey answer and end the conversation."""

    async def end(self, conversation_id: str, *, reason: str) -> None:
        """End the conversation without a survey."""

    def greeting_text(self, lang: str) -> str:
        """The reply to a customer's "hi" in ``lang``, with the company's (and the bot's) name."""

    def survey_text(self, kind: str, lang: str) -> str:
        """The survey's ``"score"`` or ``"reason"`` question in ``lang``, with the company's name."""
