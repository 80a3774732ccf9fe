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
import kb_index
from connectors import customers, outbox
from connectors.base import InboundMessage, numbered, pick_option
from connectors.outbox import DeliveryChange, DeliveryChanged
from connectors.text import text_for_the_bot
from handoff import AgentStatusChanged, Conversation, OwnerChanged, Priority, QueueUpdate, State, Typing, User
from handoff.events import about, queue_event
from core.models import utcnow
from hub.rasa_client import BotReply, RasaClient, RasaUnavailable
from hub.realtime import EventBus
from hub.settings import Settings
from hub.texts import say, when
from insights.alerts import DetractorAlert, EmailFailed, SmtpConfig, WebhookFailed, post_webhook, send_alert_email
from kb_index import Decision, Hit, KnowledgeIndex, SearchResult

logger = logging.getLogger(__name__)
# A WhatsApp chat the bot holds gets its ending (the NPS question) this long before the window closes.
WHATSAPP_WINDOW_MARGIN = timedelta(minutes=30)


def _aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes for what was stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


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
        self._standings: dict[str, dict[str, tuple[int, int]]] = {}  # team → chat → last place told
        self._dirty_queues: set[str] = set()
        self._refreshing = False
        self._away_timers: dict[int, asyncio.Task] = {}
        self._background: set[asyncio.Task] = set()

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A transaction whose real-time events are sent once it has committed; queues it changed
        are then re-assigned (teams that assign automatically) and their customers told their place."""
        async with self.sessions() as session:
            async with session.begin():
                yield session
                await self.bus.stage(session)  # outbox rows commit with the messages they carry
            events = handoff.take_pending_events(session)
        if events:
            await self.bus.publish(events)
            teams = self._queues_touched(events)
            if teams:
                await self.refresh_queues(teams)

    @staticmethod
    def _queues_touched(events: list) -> set[str]:
        teams: set[str] = set()
        for event in events:
            if isinstance(event, OwnerChanged) and State.QUEUED.value in (event.from_state, event.to_state):
                teams.update(t for t in (event.team_id, event.previous_team_id) if t)
            elif isinstance(event, OwnerChanged) and event.from_state == State.HUMAN.value and event.team_id:
                teams.add(event.team_id)  # an agent has room again
            elif isinstance(event, AgentStatusChanged) and event.status == "online":
                teams.update(event.team_ids)
        return teams

    async def refresh_queues(self, team_ids: set[str]) -> None:
        """Assign waiting chats where the team does it automatically, then tell every waiting
        customer of these teams their new place (only when it changed).

        Changes that arrive while a refresh runs are folded into one more pass, so a burst of
        claims costs a few queue reads, not one per claim."""
        self._dirty_queues.update(team_ids)
        if self._refreshing:
            return
        self._refreshing = True
        try:
            while self._dirty_queues:
                teams = sorted(self._dirty_queues)
                self._dirty_queues.clear()
                await self._refresh(teams)
        finally:
            self._refreshing = False

    async def _refresh(self, team_ids: list[str]) -> None:
        async with self.sessions() as session:
            async with session.begin():
                for team_id in team_ids:
                    await handoff.assign_waiting(session, team_id)
                for team_id in team_ids:
                    told = self._standings.get(team_id, {})
                    now: dict[str, tuple[int, int]] = {}
                    for standing in await handoff.queue_standings(session, team_id):
                        place = now[standing.conversation_id] = (standing.position, standing.wait_seconds)
                        if told.get(standing.conversation_id) != place:
                            queue_event(
                                session,
                                QueueUpdate(
                                    conversation_id=standing.conversation_id, channel=standing.channel,
                                    customer_id=standing.customer_id, team_id=team_id,
                                    position=standing.position, wait_seconds=standing.wait_seconds,
                                ),
                            )
                    self._standings[team_id] = now  # chats that left the queue are forgotten
                await self.bus.stage(session)  # "a person joined" goes out on Telegram/WhatsApp too
            events = handoff.take_pending_events(session)
        # Published directly: assignments made here must not start another refresh.
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
                await customers.remember_customer(session, inbound)
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
                payload = await self._chosen_payload(session, conversation, inbound)
                data: dict = {}
                if payload:
                    data["payload"] = payload
                if inbound.attachments:
                    data["attachments"] = [a.as_dict() for a in inbound.attachments]
                try:
                    await handoff.record_message(
                        session,
                        conversation,
                        sender="customer",
                        text=inbound.text,
                        data=data or None,
                        channel_message_id=inbound.channel_message_id,
                    )
                except handoff.DuplicateMessage:
                    return Refused.DUPLICATE, ""
                state = conversation.state
                if inbound.attachments and state in (State.BOT.value, State.CLOSING.value):
                    # Rasa reads text only: the file is kept for the agents, the bot says so politely.
                    await handoff.record_message(session, conversation, sender="bot", text=say("attachment", conversation.language))
                    return None
            if state in (State.BOT.value, State.CLOSING.value):
                # Typed text never reaches Rasa as an intent payload ("/..."): only offered buttons
                # and intents the channel itself recognised (Telegram's /start) do.
                text = payload or (f"/{inbound.intent}" if inbound.intent else None) or text_for_the_bot(inbound.text)
                await self._ask_rasa(conversation, text)
            # queued or human: the agents already received the message; Rasa is not asked.
        return None

    async def _chosen_payload(self, session: AsyncSession, conversation: Conversation, inbound: InboundMessage) -> str | None:
        """The payload of the button the customer chose: tapped (``payload``, or ``option`` with
        the offering message's id) or typed as its number in a numbered list. Only buttons of the
        bot's last message count."""
        if not inbound.payload and inbound.option is None:
            return None
        for message in reversed(await handoff.conversation_history(session, conversation.id)):
            if message.sender == "customer":
                continue
            if inbound.option is not None:
                if inbound.option_of is not None and inbound.option_of != message.id:
                    return None  # a button of an older message
                if inbound.option_of is None and not numbered(message.buttons):
                    return None  # a typed number that answers the question itself (0–10)
                button = pick_option(message.buttons, inbound.option)
                return str(button["payload"]) if button else None
            offered = {b.get("payload") for b in (message.buttons or [])}
            return inbound.payload if inbound.payload in offered else None
        return None

    async def tell(self, inbound: InboundMessage, text: str) -> None:
        """Say something to a customer outside any conversation (e.g. why their message was
        refused), through their channel's outbox."""
        async with self.unit_of_work() as session:
            await customers.remember_customer(session, inbound)
            await outbox.enqueue(session, channel=inbound.channel, customer_id=inbound.customer_id, body={"text": text, "buttons": []})
        channel = self.bus.channels.get(inbound.channel)
        if channel is not None:
            getattr(channel, "wake", lambda: None)()

    async def delivery_changed(self, changes: list[DeliveryChange]) -> None:
        """Tell the agents of each conversation that a message failed or was not sent."""
        events = []
        async with self.sessions() as session:
            for change in changes:
                if change.conversation_id is None:
                    continue
                conversation = await handoff.get_conversation(session, change.conversation_id)
                events.append(
                    DeliveryChanged(
                        **about(conversation),
                        message_id=change.message_id,
                        status=change.status,
                        error=change.error,
                    )
                )
        if events:
            await self.bus.publish(events)

    async def _ask_rasa(self, conversation: Conversation, text: str) -> None:
        metadata = {"language": conversation.language, "channel": conversation.channel}
        try:
            replies = await self.rasa.send_message(conversation.id, text, metadata)
        except RasaUnavailable:
            await self._bot_failed(conversation.id)
        else:
            await self._store_replies(conversation.id, replies)
        await self._announce_queue(conversation.id)

    async def _announce_queue(self, conversation_id: str) -> None:
        """After the turn that queued the chat: the customer's place and wait, or when the team opens."""
        async with self.unit_of_work() as session:
            conversation = await handoff.get_conversation(session, conversation_id)
            if conversation.state != State.QUEUED.value or conversation.team_id is None:
                return
            history = await handoff.conversation_history(session, conversation_id, include_notes=False)
            if any(m.sender == "system" and (m.data or {}).get("queue_notice") == str(conversation.queued_at) for m in history):
                return  # already told since it was queued
            team = await handoff.get_team(session, conversation.team_id)
            lang = conversation.language
            now = utcnow()
            if not handoff.is_open(team, now):
                opening = handoff.next_opening(team, now)
                text = say("team_closed", lang, when=when(opening, lang) if opening else "—")
            else:
                standing = await handoff.queue_standing(session, conversation_id)
                position = standing.position if standing else 1
                minutes = max(1, round((standing.wait_seconds if standing else 0) / 60))
                text = say("queued", lang, position=position, minutes=minutes)
            await handoff.record_message(
                session, conversation, sender="system", text=text, data={"queue_notice": str(conversation.queued_at)}
            )

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
        ``survey_no_answer_seconds`` ends the chat with "no answer". A bot-owned WhatsApp chat gets
        its ending before WhatsApp's 24-hour window closes (after it, the question could not be
        sent), however long the inactivity time is. Returns how many were touched."""
        now = utcnow()
        bot_cutoff = now - (silent_for if silent_for is not None else timedelta(seconds=self.settings.inactivity_seconds))
        survey_cutoff = now - (silent_for if silent_for is not None else timedelta(seconds=self.settings.survey_no_answer_seconds))
        window_cutoff = now - (timedelta(hours=self.settings.whatsapp_window_hours) - WHATSAPP_WINDOW_MARGIN)
        async with self.sessions() as session:
            candidates = await handoff.quiet_conversations(session, silent_since=max(bot_cutoff, survey_cutoff, window_cutoff))
            quiet = []
            for c in candidates:
                if c.state == State.BOT.value and _aware(c.last_message_at) < bot_cutoff:
                    quiet.append((c.id, c.state, "inactivity"))
                elif c.state == State.BOT.value and c.channel == "whatsapp" and c.last_customer_at and _aware(c.last_customer_at) < window_cutoff:
                    quiet.append((c.id, c.state, "window_closing"))
                elif c.state != State.BOT.value and _aware(c.last_message_at) < survey_cutoff:
                    quiet.append((c.id, c.state, "no_answer"))
        for conversation_id, state, ending in quiet:
            try:
                if state == State.BOT.value:
                    # Claimed by compare-and-set before Rasa hears of it: another sweep (this hub's
                    # loop, or another hub) then finds it closing and leaves it, so the question is
                    # asked once; Rasa's own ending sees it closing and only opens the survey.
                    async with self.unit_of_work() as session:
                        await handoff.begin_closing(session, conversation_id, actor="bot", reason=ending)
                    await self.run_ending(conversation_id, ending=ending)
                else:
                    async with self.unit_of_work() as session:
                        await handoff.end_conversation(session, conversation_id, actor="system", reason="no_answer")
            except handoff.InvalidTransition:
                continue  # the customer came back, or someone else ended it first
        return len(quiet)

    async def abandon_departed(self) -> int:
        """Waiting customers who left: the widget closed for a while, or silent for too long."""
        now = utcnow()
        gone_for = timedelta(seconds=self.settings.abandon_after_disconnect_seconds)
        silent_for = timedelta(seconds=self.settings.abandon_after_silence_seconds)
        async with self.sessions() as session:
            waiting = [(c.id, c.channel, c.customer_id, c.last_customer_at or c.queued_at) for c in await handoff.queued_conversations(session)]
        abandoned = 0
        for conversation_id, channel, customer_id, last_heard in waiting:
            channel_adapter = self.bus.channels.get(channel)
            left = channel_adapter.disconnected_since(customer_id) if channel_adapter else None
            reason = None
            if left is not None and now - left >= gone_for:
                reason = "left"
            elif last_heard is not None and now - _aware(last_heard) >= silent_for:
                reason = "silent"
            if reason:
                try:
                    async with self.unit_of_work() as session:
                        await handoff.abandon_conversation(session, conversation_id, reason=reason)
                    abandoned += 1
                except handoff.InvalidTransition:
                    continue  # an agent took it meanwhile
        return abandoned

    # -- agents' presence and typing -------------------------------------------------------

    async def agent_connected(self, user: User) -> None:
        """A console opened: an offline agent, or one that presence made away, comes online (an
        agent who chose "away" stays away)."""
        timer = self._away_timers.pop(user.id, None)
        if timer:
            timer.cancel()
            # A timer caught in its transaction may still commit "away": let it finish, then read.
            await asyncio.wait([timer])
        async with self.unit_of_work() as session:
            fresh = await handoff.get_user(session, user.id) or user
            if fresh.status == "offline" or (fresh.status == "away" and fresh.status_by == "presence"):
                await handoff.set_agent_status(session, fresh, "online", by="presence")

    async def agent_disconnected(self, user: User) -> None:
        """The last console closed: the agent is away after the grace period, unless they return."""
        if await self.bus.agent_online(user.id):
            return

        async def later() -> None:
            await asyncio.sleep(self.settings.presence_grace_seconds)
            if not await self.bus.agent_online(user.id):
                async with self.unit_of_work() as session:
                    fresh = await handoff.get_user(session, user.id)
                    if fresh and fresh.status == "online":
                        await handoff.set_agent_status(session, fresh, "away", by="presence")
            self._away_timers.pop(user.id, None)

        self._away_timers[user.id] = asyncio.create_task(later())

    async def customer_typing(self, channel: str, customer_id: str) -> None:
        """Tell the agent holding the chat that the customer is typing (nothing is stored)."""
        async with self.sessions() as session:
            conversation = await handoff.find_open_conversation(session, channel=channel, customer_id=customer_id)
        if conversation is not None and conversation.state in (State.HUMAN.value, State.QUEUED.value):
            await self.bus.publish([Typing(**about(conversation), who="customer")])

    async def agent_typing(self, user: User, conversation_id: str) -> None:
        """Tell the customer the agent who holds their chat is typing."""
        async with self.sessions() as session:
            conversation = await handoff.get_conversation(session, conversation_id)
        if conversation.state == State.HUMAN.value and conversation.agent_id == user.id:
            await self.bus.publish([Typing(**about(conversation), who="agent", agent_name=user.name)])

    # -- services for the Rasa actions (bot.actions.services.DeskServices) --------------------

    async def search(self, question: str, lang: str, *, conversation_id: str | None = None) -> SearchResult:
        """What the knowledge base makes of a question. A customer's question (``conversation_id``
        given) that it can only clarify or escalate is kept for the editors."""
        result = await asyncio.to_thread(self.index.search, question, lang)
        if conversation_id is not None and result.decision is not Decision.ANSWER:
            try:
                await self._record_unanswered(conversation_id, question, lang, result)
            except Exception:  # the customer's turn matters more than the editors' statistics
                logger.exception("could not keep an unanswered question")
        return result

    async def _record_unanswered(self, conversation_id: str, question: str, lang: str, result: SearchResult) -> None:
        async with self.unit_of_work() as session:
            conversation = await handoff.get_conversation(session, conversation_id)
            await kb_index.record_unanswered(
                session, text=question, lang=lang, channel=conversation.channel, decision=result.decision.value,
                confidence=result.confidence, conversation_id=conversation_id, customer_id=conversation.customer_id,
                best_article=result.best.article_id if result.best else None,
            )

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
            # Locked first, as every handoff change locks it before the summary: no deadlock with a message.
            conversation = await handoff.get_conversation(session, conversation_id, for_update=True)
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
        alert, recipients = None, []
        async with self.unit_of_work() as session:
            # The conversation's row first (as every handoff change does), then the survey and its summary.
            await handoff.get_conversation(session, conversation_id, for_update=True)
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
                if self.settings.smtp_host:
                    supervisors = await handoff.team_supervisors(session, survey.team_id)
                    recipients = sorted({*self.settings.smtp_to, *(u.email for u in supervisors)})
        # After commit, without making the customer wait: the webhook and the e-mail.
        if alert is not None and self.settings.detractor_webhook_url:
            self._in_background(self._post_alert(alert))
        if alert is not None and recipients:
            self._in_background(self._email_alert(alert, recipients))

    async def _post_alert(self, alert: DetractorAlert) -> None:
        try:
            await post_webhook(self.settings.detractor_webhook_url, alert)
        except WebhookFailed as exc:
            logger.warning("%s", exc)

    async def _email_alert(self, alert: DetractorAlert, recipients: list[str]) -> None:
        s = self.settings
        config = SmtpConfig(host=s.smtp_host, port=s.smtp_port, username=s.smtp_username, password=s.smtp_password,
                            starttls=s.smtp_starttls, use_ssl=s.smtp_ssl, sender=s.smtp_from)
        try:
            await send_alert_email(config, recipients, alert, dashboard_url=f"{s.public_url.rstrip('/')}/dashboard" if s.public_url else "")
        except EmailFailed as exc:
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
