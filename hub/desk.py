"""The switchboard: stores each inbound message, routes it by the conversation's owner (Rasa while
the bot owns it, the agents otherwise), and provides the services the Rasa actions call."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import handoff
import insights
from connectors.base import InboundMessage
from handoff import Conversation, Priority, State
from handoff.models import utcnow
from hub.rasa_client import BotReply, RasaClient, RasaUnavailable
from hub.realtime import EventBus
from hub.settings import Settings
from hub.texts import say
from insights.alerts import DetractorAlert, WebhookFailed, post_webhook
from kb_index import Hit, KnowledgeIndex, SearchResult

logger = logging.getLogger(__name__)

PRIORITY_BY_REASON = {
    "complaint": Priority.COMPLAINT,
    "bot_failure": Priority.FAILURE,
    "customer_request": Priority.REQUEST,
    "not_resolved": Priority.REQUEST,
    "kb_unanswered": Priority.LOW_CONFIDENCE,
}


def _aware(value: datetime) -> datetime:
    """SQLite gives naive datetimes back; every stored time is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class Refused(str, enum.Enum):
    """Why an inbound message was not accepted (the customer is told; nothing is stored)."""

    EMPTY = "empty"
    TOO_LONG = "too_long"
    DUPLICATE = "duplicate"


class Desk:
    """One per hub process. Every public method is one unit of work (or a sequence of them)."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        index: KnowledgeIndex,
        bus: EventBus,
        rasa: RasaClient,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.index = index
        self.bus = bus
        self.rasa = rasa
        # Turns of one customer are handled one after the other, so replies keep their order.
        self._turn_locks: dict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)
        self._background: set[asyncio.Task] = set()

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A transaction whose real-time events are sent once it has committed."""
        async with self.sessions() as session:
            async with session.begin():
                yield session
            events = handoff.take_pending_events(session)
        if events:
            await self.bus.publish(events)

    # -- customers' messages ----------------------------------------------------------------

    def check_inbound(self, inbound: InboundMessage) -> tuple[Refused, str] | None:
        """A refusal and the polite sentence for it, or ``None`` when the message is acceptable."""
        if not inbound.text.strip():
            return Refused.EMPTY, say("empty", inbound.language)
        if len(inbound.text) > self.settings.max_message_chars:
            return Refused.TOO_LONG, say("too_long", inbound.language, limit=self.settings.max_message_chars)
        return None

    async def handle_inbound(self, inbound: InboundMessage) -> tuple[Refused, str] | None:
        """Store the customer's message, then let the owner of the conversation answer it.

        Returns a refusal (and its sentence) for a message that was not accepted.
        """
        refusal = self.check_inbound(inbound)
        if refusal:
            return refusal
        async with self._turn_locks[(inbound.channel, inbound.customer_id)]:
            async with self.unit_of_work() as session:
                conversation = await handoff.find_open_conversation(
                    session, channel=inbound.channel, customer_id=inbound.customer_id
                )
                if conversation is None:
                    conversation = await handoff.start_conversation(
                        session,
                        channel=inbound.channel,
                        customer_id=inbound.customer_id,
                        language=inbound.language,
                        customer_name=inbound.customer_name,
                    )
                payload = await self._allowed_payload(session, conversation, inbound.payload)
                try:
                    await handoff.record_message(
                        session,
                        conversation,
                        sender="customer",
                        text=inbound.text,
                        data={"payload": payload} if payload else None,
                        channel_message_id=inbound.channel_message_id,
                    )
                except handoff.DuplicateMessage:
                    return Refused.DUPLICATE, ""
                state = conversation.state
            if state in (State.BOT.value, State.CLOSING.value):
                # Typed text never reaches Rasa as an intent payload ("/..."): only offered buttons do.
                text = payload or inbound.text.lstrip("/").strip() or inbound.text
                await self._ask_rasa(conversation, text)
            # queued or human: the agents already received the message; Rasa is not asked.
        return None

    async def _allowed_payload(self, session: AsyncSession, conversation: Conversation, payload: str | None) -> str | None:
        """A button payload is used only if the bot's last message offered that button."""
        if not payload:
            return None
        for message in reversed(await handoff.conversation_history(session, conversation.id)):
            if message.sender == "customer":
                continue
            offered = {b.get("payload") for b in (message.buttons or [])}
            return payload if payload in offered else None
        return None

    async def _ask_rasa(self, conversation: Conversation, text: str) -> None:
        metadata = {"language": conversation.language, "channel": conversation.channel}
        try:
            replies = await self.rasa.send_message(conversation.id, text, metadata)
        except RasaUnavailable:
            await self._bot_failed(conversation.id)
            return
        await self._store_replies(conversation.id, replies)

    async def _store_replies(self, conversation_id: str, replies: list[BotReply]) -> None:
        async with self.unit_of_work() as session:
            conversation = await handoff.get_conversation(session, conversation_id)
            last = None
            for reply in replies:
                custom = dict(reply.custom or {})
                text = reply.text or custom.pop("text", None)
                if text:
                    # Custom data (e.g. the article the bot used) is kept with the message for agents.
                    last = await handoff.record_message(
                        session, conversation, sender="bot", text=str(text), buttons=reply.buttons or None, data=custom or None
                    )
                elif custom and last is not None:
                    last.data = {**(last.data or {}), **custom}

    async def _bot_failed(self, conversation_id: str) -> None:
        """Rasa did not answer: tell the customer and queue the chat for a person."""
        async with self.unit_of_work() as session:
            conversation = await handoff.get_conversation(session, conversation_id)
            await handoff.record_message(session, conversation, sender="system", text=say("bot_failure", conversation.language))
            if conversation.state == State.BOT.value:
                await handoff.escalate_conversation(
                    session, conversation_id, team_id="geral", priority=Priority.FAILURE, reason="bot_failure", actor="system"
                )
            elif conversation.state == State.CLOSING.value:
                await handoff.end_conversation(session, conversation_id, actor="system", reason="bot_failure")

    # -- endings ----------------------------------------------------------------------------

    async def run_ending(self, conversation_id: str, *, ending: str) -> None:
        """Ask Rasa to run the ending (the NPS question) of a conversation the hub ended."""
        try:
            replies = await self.rasa.trigger_intent(conversation_id, "end_conversation", {"ending": ending})
        except RasaUnavailable:
            async with self.unit_of_work() as session:
                await handoff.end_conversation(session, conversation_id, actor="system", reason=ending)
            return
        await self._store_replies(conversation_id, replies)

    async def end_quiet_conversations(self, *, silent_for: timedelta | None = None) -> int:
        """Customers who went quiet (for the configured inactivity time unless ``silent_for`` is
        given): bot-owned chats get the ending (NPS); a survey unanswered for
        ``survey_no_answer_seconds`` ends the chat with "no answer". Returns how many were touched."""
        now = utcnow()
        bot_cutoff = now - (silent_for if silent_for is not None else timedelta(seconds=self.settings.inactivity_seconds))
        survey_cutoff = now - (silent_for if silent_for is not None else timedelta(seconds=self.settings.survey_no_answer_seconds))
        async with self.sessions() as session:
            candidates = await handoff.quiet_conversations(session, silent_since=max(bot_cutoff, survey_cutoff))
            quiet = [
                (c.id, c.state)
                for c in candidates
                if _aware(c.last_message_at) < (bot_cutoff if c.state == State.BOT.value else survey_cutoff)
            ]
        for conversation_id, state in quiet:
            try:
                if state == State.BOT.value:
                    await self.run_ending(conversation_id, ending="inactivity")
                else:
                    async with self.unit_of_work() as session:
                        await handoff.end_conversation(session, conversation_id, actor="system", reason="no_answer")
            except handoff.InvalidTransition:
                continue  # the customer came back, or someone else ended it first
        return len(quiet)

    # -- services for the Rasa actions (bot.actions.services.DeskServices) --------------------

    async def search(self, question: str, lang: str) -> SearchResult:
        return await asyncio.to_thread(self.index.search, question, lang)

    def article(self, article_id: str, lang: str) -> Hit | None:
        candidates = [a for a in self.index.articles() if a.id == article_id]
        if not candidates:
            return None
        article = next((a for a in candidates if a.lang == lang), None) or next(
            (a for a in candidates if a.lang.split("-")[0] == lang.split("-")[0]), candidates[0]
        )
        return Hit(article.id, article.lang, article.title, article.team, 1.0, article.body)

    async def escalate(self, conversation_id: str, *, team: str, reason: str) -> None:
        async with self.unit_of_work() as session:
            await handoff.escalate_conversation(
                session, conversation_id, team_id=team, priority=PRIORITY_BY_REASON.get(reason, Priority.REQUEST), reason=reason
            )

    async def begin_ending(self, conversation_id: str, *, ending: str) -> bool:
        async with self.unit_of_work() as session:
            conversation = await handoff.get_conversation(session, conversation_id)
            survey = await insights.open_survey(
                session,
                conversation_id,
                channel=conversation.channel,
                language=conversation.language,
                ending=ending,
                team_id=conversation.team_id,
                agent_id=conversation.agent_id,
            )
            if survey is not None and conversation.state == State.BOT.value:
                await handoff.begin_closing(session, conversation_id, actor="bot", reason=ending)
            return survey is not None

    async def finish_survey(self, conversation_id: str, *, score: int | None, reason: str | None) -> None:
        """Store the answer and end the chat; a detractor opens a follow-up and alerts the supervisors."""
        alert = None
        async with self.unit_of_work() as session:
            survey = await insights.answer_survey(session, conversation_id, score)
            if reason:
                survey = await insights.record_reason(session, conversation_id, reason)
            conversation = await handoff.end_conversation(session, conversation_id, actor="customer", reason="survey_done")
            task = await insights.open_follow_up(session, survey)
            if task is not None:
                alert = DetractorAlert(
                    conversation_id=conversation_id, channel=conversation.channel, customer_id=conversation.customer_id,
                    team_id=survey.team_id, agent_id=survey.agent_id, score=task.score, reason=task.reason,
                    follow_up_id=task.id,
                )
                handoff.events.queue_event(session, alert)  # type: ignore[arg-type] - the bus routes it to supervisors
        if alert is not None and self.settings.detractor_webhook_url:
            self._in_background(self._post_alert(alert))

    async def _post_alert(self, alert: DetractorAlert) -> None:
        try:
            await post_webhook(self.settings.detractor_webhook_url, alert)
        except WebhookFailed as exc:
            logger.warning("%s", exc)

    def _in_background(self, coro) -> None:  # noqa: ANN001
        """Run ``coro`` without making the customer wait for it (kept referenced until it ends)."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def survey_text(self, kind: str, lang: str) -> str:
        overrides = self.settings.survey_question if kind == "score" else self.settings.survey_reason_question
        return insights.survey_wording(kind, lang, self.settings.company_name, overrides)

    async def end(self, conversation_id: str, *, reason: str) -> None:
        async with self.unit_of_work() as session:
            conversation = await handoff.get_conversation(session, conversation_id)
            if conversation.state in (State.BOT.value, State.CLOSING.value):
                await handoff.end_conversation(session, conversation_id, actor="bot", reason=reason)
