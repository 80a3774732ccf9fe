"""How conversations end: the ending Rasa runs (the NPS question), the sweep of quiet
conversations, waiting customers who left, the survey's answer (a detractor alerts the
supervisors), and the loop the app schedules to sweep every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import handoff
import insights
from core.events import queue_event
from core.models import aware, utcnow
from desk.alerts import AlertDelivery
from desk.config import DeskSettings
from desk.learning import learn_from_confirmation
from desk.queues import Queues
from desk.rasa import RasaBridge, RasaUnavailable
from desk.realtime import EventBus
from desk.texts import say
from handoff import Conversation, State
from insights.alerts import DetractorAlert

logger = logging.getLogger(__name__)
# A WhatsApp chat the bot holds gets its ending (the NPS question) this long before the window closes.
WHATSAPP_WINDOW_MARGIN = timedelta(minutes=30)


@dataclass(frozen=True)
class Cutoffs:
    """Moments before which a customer's silence ends their conversation."""

    bot: datetime  # a chat the bot holds gets its ending (the NPS question)
    survey: datetime  # an unanswered survey ends the chat with "no answer"
    window: datetime  # a WhatsApp chat the bot holds gets its ending before the 24-hour window closes


def quiet_endings(conversations: Iterable[Conversation], cut: Cutoffs) -> list[tuple[str, State, str]]:
    """(id, state, ending) of the conversations whose customer has been quiet past ``cut``."""
    quiet: list[tuple[str, State, str]] = []
    for c in conversations:
        last = aware(c.last_message_at)  # never None here: quiet_conversations selects by it
        if c.state == State.BOT and last is not None and last < cut.bot:
            quiet.append((c.id, c.state, "inactivity"))
        elif c.state == State.BOT and c.channel == "whatsapp" and c.last_customer_at and aware(c.last_customer_at) < cut.window:
            quiet.append((c.id, c.state, "window_closing"))
        elif c.state != State.BOT and last is not None and last < cut.survey:
            quiet.append((c.id, c.state, "no_answer"))
    return quiet


class Endings:
    """One per desk."""

    def __init__(
        self,
        settings: DeskSettings,
        sessions: async_sessionmaker[AsyncSession],
        queues: Queues,
        bus: EventBus,
        bridge: RasaBridge,
        alerts: AlertDelivery,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.queues = queues
        self.bus = bus
        self.bridge = bridge
        self.alerts = alerts

    async def run_ending(self, conversation_id: str, *, ending: str) -> None:
        """Ask Rasa to run the ending (the NPS question) of a conversation the hub ended."""
        try:
            replies = await self.bridge.client.trigger_intent(
                conversation_id, "end_conversation", {"ending": ending}, within_s=self.settings.bot_wait_s
            )
        except RasaUnavailable:
            # A busy Rasa may still run the ending (its action then ends the chat): either way it ends once.
            with contextlib.suppress(handoff.InvalidTransition):
                async with self.queues.unit_of_work() as session:
                    await handoff.end_conversation(session, conversation_id, actor="system", reason=ending)
            return
        await self.bridge.store_replies(conversation_id, replies)

    def _cutoffs(self, now: datetime, silent_for: timedelta | None) -> Cutoffs:
        bot = timedelta(seconds=self.settings.inactivity_seconds) if silent_for is None else silent_for
        survey = timedelta(seconds=self.settings.survey_no_answer_seconds) if silent_for is None else silent_for
        window = timedelta(hours=self.settings.whatsapp_window_hours) - WHATSAPP_WINDOW_MARGIN
        return Cutoffs(bot=now - bot, survey=now - survey, window=now - window)

    async def end_quiet_conversations(self, *, silent_for: timedelta | None = None) -> int:
        """Customers who went quiet (for the configured inactivity time unless ``silent_for`` is
        given): bot-owned chats get the ending (NPS); a survey unanswered for
        ``survey_no_answer_seconds`` ends the chat with "no answer". A bot-owned WhatsApp chat gets
        its ending before WhatsApp's 24-hour window closes (after it, the question could not be
        sent), however long the inactivity time is. Returns how many were touched."""
        cut = self._cutoffs(utcnow(), silent_for)
        async with self.sessions() as session:
            candidates = await handoff.quiet_conversations(session, silent_since=max(cut.bot, cut.survey, cut.window))
            quiet = quiet_endings(candidates, cut)
        for conversation_id, state, ending in quiet:
            try:
                if state == State.BOT:
                    # Claimed by compare-and-set before Rasa hears of it: another sweep (this hub's
                    # loop, or another hub) then finds it closing and leaves it, so the question is
                    # asked once; Rasa's own ending sees it closing and only opens the survey.
                    async with self.queues.unit_of_work() as session:
                        await handoff.begin_closing(session, conversation_id, actor="bot", reason=ending)
                    await self.run_ending(conversation_id, ending=ending)
                else:
                    async with self.queues.unit_of_work() as session:
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
            waiting = [
                (c.id, c.channel, c.customer_id, c.last_customer_at or c.queued_at)
                for c in await handoff.queued_conversations(session)
            ]
        abandoned = 0
        for conversation_id, channel, customer_id, last_heard in waiting:
            left = await self.bus.customer_left(channel, customer_id)  # on any replica
            reason = None
            if left is not None and now - left >= gone_for:
                reason = "left"
            elif last_heard is not None and now - aware(last_heard) >= silent_for:
                reason = "silent"
            if reason:
                try:
                    async with self.queues.unit_of_work() as session:
                        await handoff.abandon_conversation(session, conversation_id, reason=reason)
                    abandoned += 1
                except handoff.InvalidTransition:
                    continue  # an agent took it meanwhile
        return abandoned

    async def return_unanswered_claims(self) -> int:
        """Chats their agent has not answered within the team's ``claim_answer_seconds`` go back to
        the head of the queue, and the customer is told. Each is its own unit of work; on several
        hubs the compare-and-set lets one return it. Returns how many this hub returned."""
        now = utcnow()
        async with self.sessions() as session:
            due = await handoff.unanswered_claims(session, now=now)
        returned = 0
        for conversation_id in due:
            try:
                async with self.queues.unit_of_work() as session:
                    conversation = await handoff.return_unanswered_claim(session, conversation_id, now=now)
                    text = say("claim_returned", conversation.language)
                    await handoff.record_message(session, conversation, sender="system", text=text)
                returned += 1
            except handoff.InvalidTransition:
                continue  # answered, closed or transferred meanwhile, or another hub returned it
        return returned

    async def begin_ending(self, conversation_id: str, *, ending: str) -> bool:
        """Open the survey (once per conversation) and, for a chat the bot holds, start closing it.
        True when the NPS question should be asked."""
        async with self.queues.unit_of_work() as session:
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
            if survey is not None and conversation.state == State.BOT:
                await handoff.begin_closing(session, conversation_id, actor="bot", reason=ending)
                if ending == "resolved":  # the customer said the article solved it
                    await learn_from_confirmation(session, conversation_id)
            return survey is not None

    async def finish_survey(self, conversation_id: str, *, score: int | None, reason: str | None) -> None:
        """Store the answer and end the chat; a detractor opens a follow-up and alerts the supervisors."""
        alert, recipients = None, []
        async with self.queues.unit_of_work() as session:
            # The conversation's row first (as every handoff change does), then the survey and its summary.
            await handoff.get_conversation(session, conversation_id, for_update=True)
            survey = await insights.answer_survey(session, conversation_id, score)
            if reason:
                survey = await insights.record_reason(session, conversation_id, reason)
            conversation = await handoff.end_conversation(session, conversation_id, actor="customer", reason="survey_done")
            task = await insights.open_follow_up(session, survey)
            if task is not None:
                alert = DetractorAlert(
                    conversation_id=conversation_id,
                    channel=conversation.channel,
                    customer_id=conversation.customer_id,
                    team_id=survey.team_id,
                    agent_id=survey.agent_id,
                    score=task.score,
                    reason=task.reason,
                    follow_up_id=task.id,
                )
                queue_event(session, alert)  # the bus routes it to supervisors
                recipients = await self.alerts.recipients(session, survey.team_id)
        # After commit, without making the customer wait: the webhook and the e-mail.
        if alert is not None:
            self.alerts.send(alert, recipients)

    async def end(self, conversation_id: str, *, reason: str) -> None:
        """End a conversation the bot holds, without a survey."""
        async with self.queues.unit_of_work() as session:
            conversation = await handoff.get_conversation(session, conversation_id)
            if conversation.state in (State.BOT, State.CLOSING):
                await handoff.end_conversation(session, conversation_id, actor="bot", reason=reason)


async def inactivity_loop(endings: Endings) -> None:
    """Until cancelled, every ``inactivity_check_seconds``: end conversations whose customer went
    quiet (the NPS question is the ending), mark waiting customers who left as abandoned, and put
    claimed chats left unanswered back in the queue."""
    while True:
        await asyncio.sleep(endings.settings.inactivity_check_seconds)
        try:
            await endings.end_quiet_conversations()
            await endings.abandon_departed()
            await endings.return_unanswered_claims()
        except Exception:  # keep checking; one bad conversation must not stop the loop
            logger.exception("inactivity check failed")
