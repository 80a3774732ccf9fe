"""The desk's façade: one object the app, the routes and the Rasa actions hold, delegating each
flow to its module (inbound, queues, endings, presence, bot services, alerts, the Rasa bridge)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.actions.services import QueuedFor
from connectors.base import InboundMessage
from connectors.outbox import DeliveryChange
from desk.alerts import AlertDelivery
from desk.bot_services import BotServices
from desk.config import DeskSettings
from desk.early_search import EarlySearches
from desk.endings import Endings
from desk.inbound import Inbound, Refused
from desk.presence import Presence
from desk.queues import Queues
from desk.rasa import RasaBridge, RasaClient
from desk.realtime import EventBus
from desk.texts import widget_texts
from desk.words import WordsCache
from handoff import User
from kb_index import Hit, KnowledgeIndex, SearchResult


class Desk:
    """One per hub process. Every public method is one unit of work (or a sequence of them). It
    provides the services the Rasa actions call (``bot.actions.DeskServices``)."""

    def __init__(
        self,
        settings: DeskSettings,
        sessions: async_sessionmaker[AsyncSession],
        index: KnowledgeIndex,
        bus: EventBus,
        rasa: RasaClient,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.words = WordsCache(settings, sessions)
        bus.words_changed = self.words.forget  # on this replica and, through the relay, on the others
        self.index = index
        self.bus = bus
        self.rasa = rasa
        self.queues = Queues(sessions, bus, self.words)
        self.bridge = RasaBridge(rasa, self.queues)
        # A customer's question searched while Rasa reads it; the knowledge-base action takes it.
        self.early = EarlySearches(index)
        self.inbound = Inbound(settings, self.queues, bus, self.bridge, self.early)
        self.presence = Presence(settings, sessions, self.queues, bus)
        self.alerts = AlertDelivery(settings)
        self.endings = Endings(settings, sessions, self.queues, bus, self.bridge, self.alerts)
        self.bot = BotServices(settings, index, self.queues, self.words, self.early)

    # -- transactions and queues -------------------------------------------------------------

    def unit_of_work(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A transaction whose real-time events are sent once it has committed (``Queues.unit_of_work``)."""
        return self.queues.unit_of_work()

    async def refresh_queues(self, team_ids: set[str]) -> None:
        """Assign waiting chats of these teams where they assign automatically, and tell waiting
        customers their new place."""
        await self.queues.refresh(team_ids)

    # -- customers' messages -----------------------------------------------------------------

    def check_inbound(self, inbound: InboundMessage) -> tuple[Refused, str] | None:
        """A refusal and the polite sentence for it, or ``None`` when the message is acceptable."""
        return self.inbound.check(inbound)

    async def handle_inbound(self, inbound: InboundMessage) -> tuple[Refused, str] | None:
        """Store the customer's message, then let the owner of the conversation answer it (with
        the company's words as they are now: the bot's turn reads them without waiting)."""
        await self.words.fresh()
        return await self.inbound.handle(inbound)

    async def tell(self, inbound: InboundMessage, text: str) -> None:
        """Say something to a customer outside any conversation, through their channel's outbox."""
        await self.inbound.tell(inbound, text)

    async def delivery_changed(self, changes: list[DeliveryChange]) -> None:
        """Tell the agents of each conversation that a message failed or was not sent."""
        await self.inbound.delivery_changed(changes)

    # -- endings -------------------------------------------------------------------------------

    async def run_ending(self, conversation_id: str, *, ending: str) -> None:
        """Ask Rasa to run the ending (the NPS question) of a conversation the hub ended."""
        await self.words.fresh()
        await self.endings.run_ending(conversation_id, ending=ending)

    async def end_quiet_conversations(self, *, silent_for: timedelta | None = None) -> int:
        """End the conversations whose customer went quiet; returns how many were touched."""
        return await self.endings.end_quiet_conversations(silent_for=silent_for)

    async def abandon_departed(self) -> int:
        """Mark waiting customers who left as abandoned; returns how many."""
        return await self.endings.abandon_departed()

    # -- agents' presence and typing -----------------------------------------------------------

    async def agent_connected(self, user: User) -> None:
        """A console opened: the agent comes online (unless they chose "away")."""
        await self.presence.agent_connected(user)

    async def agent_disconnected(self, user: User) -> None:
        """The last console closed: the agent is away after the grace period, unless they return."""
        await self.presence.agent_disconnected(user)

    async def customer_typing(self, channel: str, customer_id: str) -> None:
        """Tell the agent holding the chat that the customer is typing."""
        await self.presence.customer_typing(channel, customer_id)

    async def agent_typing(self, user: User, conversation_id: str) -> None:
        """Tell the customer the agent who holds their chat is typing."""
        await self.presence.agent_typing(user, conversation_id)

    # -- services for the Rasa actions (bot.actions.services.DeskServices) --------------------

    async def search(self, question: str, lang: str, *, conversation_id: str | None = None) -> SearchResult:
        """Knowledge-base search; a customer's question it cannot answer is kept for the editors."""
        return await self.bot.search(question, lang, conversation_id=conversation_id)

    async def article(self, article_id: str, lang: str, *, question: str = "") -> Hit | None:
        """One published article, in the customer's language when it exists, with the passage that
        best answers ``question``."""
        return await self.bot.article(article_id, lang, question=question)

    async def next_answer(self, question: str, lang: str, *, tried: list[str]) -> Hit | None:
        """After a "no": the next plausible article for the question, or None (a person then)."""
        return await self.bot.next_answer(question, lang, tried=tried)

    async def widget_setup(self, lang: str) -> dict:
        """What an opening widget page gets from the desk, with the company's words as they are
        now: its language (``lang`` when offered, else the desk's default or the first offered),
        the greeting and the length limit's sentence, the company's name and the widget's colour
        (``None`` when the admins set none: the shop's page decides)."""
        words = await self.words.fresh()
        lang = words.language(lang, self.settings.default_language)
        texts = widget_texts(
            lang,
            company=words.company_name,
            max_chars=self.settings.max_message_chars,
            greeting=words.greeting,
            bot=words.bot_name,
        )
        return {"lang": lang, "texts": texts, "company": words.company_name, "color": words.widget_color}

    async def escalate(self, conversation_id: str, *, team: str, reason: str) -> QueuedFor:
        """Queue the conversation for a team (the reason sets the priority); returns that team."""
        return await self.bot.escalate(conversation_id, team=team, reason=reason)

    def greeting_text(self, lang: str) -> str:
        """The reply to a customer's "hi" in ``lang``, naming the company and the bot."""
        return self.bot.greeting_text(lang)

    def survey_text(self, kind: str, lang: str) -> str:
        """The survey's ``"score"`` or ``"reason"`` question in ``lang``, with the company's name."""
        return self.bot.survey_text(kind, lang)

    async def begin_ending(self, conversation_id: str, *, ending: str) -> bool:
        """Start the ending. True when the NPS question should be asked (never twice)."""
        return await self.endings.begin_ending(conversation_id, ending=ending)

    async def finish_survey(self, conversation_id: str, *, score: int | None, reason: str | None) -> None:
        """Store the survey answer and end the conversation (a detractor alerts the supervisors)."""
        await self.endings.finish_survey(conversation_id, score=score, reason=reason)

    async def end(self, conversation_id: str, *, reason: str) -> None:
        """End the conversation without a survey."""
        await self.endings.end(conversation_id, reason=reason)
