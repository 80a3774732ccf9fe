"""The services the Rasa actions call (``bot.actions.DeskServices``) that are not about endings:
knowledge-base search (a question it cannot answer is kept for the editors), one article, the
hand-over to a team, and the wording of the greeting and the survey."""

from __future__ import annotations

import asyncio
import logging

import handoff
import insights
import kb_index
from bot.actions.services import QueuedFor
from desk.config import DeskSettings
from desk.early_search import EarlySearches
from desk.queues import Queues
from desk.texts import say
from desk.words import WordsCache
from handoff import Priority, State
from kb_index import Decision, Hit, KnowledgeIndex, SearchResult

logger = logging.getLogger(__name__)

PRIORITY_BY_REASON = {
    "complaint": Priority.COMPLAINT,
    "bot_failure": Priority.FAILURE,
    "bot_busy": Priority.FAILURE,
    "customer_request": Priority.REQUEST,
    "not_resolved": Priority.REQUEST,
    "kb_unanswered": Priority.LOW_CONFIDENCE,
}


class BotServices:
    """One per desk, over its knowledge-base index."""

    def __init__(
        self, settings: DeskSettings, index: KnowledgeIndex, queues: Queues, words: WordsCache, early: EarlySearches
    ) -> None:
        self.settings = settings
        self.index = index
        self.queues = queues
        self.words = words
        self.early = early

    async def search(self, question: str, lang: str, *, conversation_id: str | None = None) -> SearchResult:
        """What the knowledge base makes of a question. A customer's question (``conversation_id``
        given) that it can only clarify or escalate is kept for the editors. The search the hub
        started for this turn while Rasa read the message (``EarlySearches``) is used when there is one."""
        result = await self.early.take(conversation_id, question, lang) if conversation_id is not None else None
        if result is None:
            result = await asyncio.to_thread(self.index.search, question, lang)
        if conversation_id is not None and result.decision is not Decision.ANSWER:
            try:
                await self._record_unanswered(conversation_id, question, lang, result)
            except Exception:  # the customer's turn matters more than the editors' statistics
                logger.exception("could not keep an unanswered question")
        return result

    async def _record_unanswered(self, conversation_id: str, question: str, lang: str, result: SearchResult) -> None:
        async with self.queues.unit_of_work() as session:
            conversation = await handoff.get_conversation(session, conversation_id)
            await kb_index.record_unanswered(
                session,
                text=question,
                lang=lang,
                channel=conversation.channel,
                decision=result.decision.value,
                confidence=result.confidence,
                conversation_id=conversation_id,
                customer_id=conversation.customer_id,
                best_article=result.best.article_id if result.best else None,
            )

    async def article(self, article_id: str, lang: str, *, question: str = "") -> Hit | None:
        """One published article, in ``lang`` when it exists, else the same language family, else
        any; with ``question``, its passage that best answers it (else the whole body)."""
        candidates = [a for a in self.index.articles() if a.id == article_id]
        if not candidates:
            return None
        article = next((a for a in candidates if a.lang == lang), None) or next(
            (a for a in candidates if a.lang.split("-")[0] == lang.split("-")[0]), candidates[0]
        )
        passage = (
            await asyncio.to_thread(self.index.answer_passage, article.id, article.lang, question) if question.strip() else ""
        )
        return Hit(article.id, article.lang, article.title, article.team, 1.0, article.body, passage)

    async def next_answer(self, question: str, lang: str, *, tried: list[str]) -> Hit | None:
        """After a "no": the next article for ``question`` not in ``tried``, when it is a plausible
        match — at or above the clarify threshold and within ``kb_next_answer_margin`` of the
        first article's score — else ``None`` (the customer gets a person rather than an unrelated
        article)."""
        result = await asyncio.to_thread(self.index.search, question, lang)
        if not result.hits:
            return None
        calibration = self.index.calibration
        floor = max(calibration.t_clarify if calibration else 0.0, result.hits[0].score - self.settings.kb_next_answer_margin)
        return next((h for h in result.hits if h.article_id not in tried and h.score >= floor), None)

    async def escalate(self, conversation_id: str, *, team: str, reason: str) -> QueuedFor:
        """Queue the conversation for ``team``; the reason sets the priority. Returns the team it is
        queued for, with the name the admins gave it, which the hand-over message uses."""
        async with self.queues.unit_of_work() as session:
            try:
                conversation = await handoff.escalate_conversation(
                    session,
                    conversation_id,
                    team_id=team,
                    priority=PRIORITY_BY_REASON.get(reason, Priority.REQUEST),
                    reason=reason,
                )
            except handoff.InvalidTransition:
                # Queued already: the hub stopped waiting for this turn (Rasa too slow) and handed the
                # chat to a person before Rasa ran this action. Nothing to change; say where it waits.
                conversation = await handoff.get_conversation(session, conversation_id)
                if conversation.state != State.QUEUED:
                    raise
            queued_for = conversation.team_id or team
            try:
                return QueuedFor(queued_for, (await handoff.get_team(session, queued_for)).name)
            except handoff.UnknownTeam:
                return QueuedFor(queued_for, queued_for)

    def survey_text(self, kind: str, lang: str) -> str:
        """The survey's ``"score"`` or ``"reason"`` question in ``lang``, naming the company (the
        company's words as the turn read them: ``Desk.handle_inbound`` and ``run_ending`` refresh them)."""
        words = self.words.current
        overrides = words.survey_question if kind == "score" else words.survey_reason_question
        return insights.survey_wording(kind, lang, words.company_name, overrides)

    def greeting_text(self, lang: str) -> str:
        """The reply to a customer's "hi" in ``lang``: the company's greeting when the admins wrote
        one for the language, else the built-in one, naming the bot (when it has a name) and the
        company (the words as the turn read them, like ``survey_text``)."""
        words = self.words.current
        key = "hello_named" if words.bot_name else "hello"
        return say(key, lang, overrides=words.greeting, company=words.company_name, bot=words.bot_name)
