"""Units of work whose real-time events go out after commit, and the team queues they touch kept
fresh: waiting chats assigned where a team assigns automatically, and every waiting customer told
their place (only when it changed) or when the team opens."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import handoff
from core.events import RealtimeEvent, queue_event, take_pending_events
from core.models import utcnow
from desk.realtime import EventBus
from desk.texts import say, when
from desk.words import WordsCache
from handoff import AgentStatusChanged, OwnerChanged, QueueUpdate, State


def queues_touched(events: Iterable[RealtimeEvent]) -> set[str]:
    """The teams whose queue ``events`` changed: a chat queued or leaving the queue, an agent with
    room again (a chat left them), an agent coming online."""
    teams: set[str] = set()
    for event in events:
        if isinstance(event, OwnerChanged) and State.QUEUED in (event.from_state, event.to_state):
            teams.update(t for t in (event.team_id, event.previous_team_id) if t)
        elif isinstance(event, OwnerChanged) and event.from_state == State.HUMAN and event.team_id:
            teams.add(event.team_id)  # an agent has room again
        elif isinstance(event, AgentStatusChanged) and event.status == "online":
            teams.update(event.team_ids)
    return teams


class Queues:
    """One per desk: the unit of work, and the refresh of the queues it touched."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: EventBus, words: WordsCache) -> None:
        self.sessions = sessions
        self.bus = bus
        self.words = words  # the out-of-hours wording the admins set
        self._standings: dict[str, dict[str, tuple[int, int, bool]]] = {}  # team → chat → last place told
        self._dirty: set[str] = set()
        self._refreshing = False
        # On SQLite (one hub), this process's units of work take turns here, first come first
        # served, before BEGIN IMMEDIATE: waiting in SQLite's busy handler, which sleeps up to 100 ms
        # between tries and lets later writers pass, gave some customers' turns seconds of delay
        # with ten of them writing at once. PostgreSQL's writers wait on its row locks instead.
        bind = sessions.kw.get("bind")
        self._one_writer = asyncio.Lock() if bind is not None and bind.dialect.name == "sqlite" else None

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A transaction whose real-time events are sent once it has committed; queues it changed
        are then re-assigned (teams that assign automatically) and their customers told their place."""
        async with self._one_writer or contextlib.nullcontext(), self.sessions() as session:
            async with session.begin():
                yield session
                await self.bus.stage(session)  # outbox rows commit with the messages they carry
            events = take_pending_events(session)
        if events:
            await self.bus.publish(events)
            teams = queues_touched(events)
            if teams:
                await self.refresh(teams)

    async def refresh(self, team_ids: set[str]) -> None:
        """Assign waiting chats where the team does it automatically, then tell every waiting
        customer of these teams their new place (only when it changed).

        Changes that arrive while a refresh runs are folded into one more pass, so a burst of
        claims costs a few queue reads, not one per claim."""
        self._dirty.update(team_ids)
        if self._refreshing:
            return
        self._refreshing = True
        try:
            while self._dirty:
                teams = sorted(self._dirty)
                self._dirty.clear()
                await self._refresh_pass(teams)
        finally:
            self._refreshing = False

    async def _refresh_pass(self, team_ids: list[str]) -> None:
        async with self.sessions() as session:
            async with session.begin():
                for team_id in team_ids:
                    await handoff.assign_waiting(session, team_id)
                for team_id in team_ids:
                    await self._tell_places(session, team_id)
                await self.bus.stage(session)  # "a person joined" goes out on Telegram/WhatsApp too
            events = take_pending_events(session)
        # Published directly: assignments made here must not start another refresh.
        await self.bus.publish(events)

    async def _tell_places(self, session: AsyncSession, team_id: str) -> None:
        """Queue a ``QueueUpdate`` for every waiting customer of the team whose place changed."""
        told = self._standings.get(team_id, {})
        now: dict[str, tuple[int, int, bool]] = {}
        standings = await handoff.queue_standings(session, team_id)
        team_open = handoff.is_open(await handoff.get_team(session, team_id), utcnow()) if standings else True
        for standing in standings:
            place = now[standing.conversation_id] = (standing.position, standing.wait_seconds, team_open)
            if told.get(standing.conversation_id) != place:
                queue_event(
                    session,
                    QueueUpdate(
                        conversation_id=standing.conversation_id,
                        channel=standing.channel,
                        customer_id=standing.customer_id,
                        team_id=team_id,
                        position=standing.position,
                        wait_seconds=standing.wait_seconds,
                        team_open=team_open,
                    ),
                )
        self._standings[team_id] = now  # chats that left the queue are forgotten

    async def announce(self, conversation_id: str) -> None:
        """After the turn that queued the chat: the customer's place and wait, or when the team opens
        (in the admins' out-of-hours wording when they set one: ``{when}``, ``{company}`` and ``{bot}`` filled in)."""
        words = await self.words.fresh()
        async with self.unit_of_work() as session:
            conversation = await handoff.get_conversation(session, conversation_id)
            if conversation.state != State.QUEUED or conversation.team_id is None:
                return
            history = await handoff.conversation_history(session, conversation_id, include_notes=False)
            if any(m.sender == "system" and (m.data or {}).get("queue_notice") == str(conversation.queued_at) for m in history):
                return  # already told since it was queued
            team = await handoff.get_team(session, conversation.team_id)
            lang = conversation.language
            now = utcnow()
            if not handoff.is_open(team, now):
                opening = handoff.next_opening(team, now)
                text = say(
                    "team_closed",
                    lang,
                    overrides=words.out_of_hours,
                    when=when(opening, lang) if opening else "—",
                    company=words.company_name,
                    bot=words.bot_name,
                )
            else:
                standing = await handoff.queue_standing(session, conversation_id)
                position = standing.position if standing else 1
                minutes = max(1, round((standing.wait_seconds if standing else 0) / 60))
                text = say("queued", lang, position=position, minutes=minutes)
            await handoff.record_message(
                session, conversation, sender="system", text=text, data={"queue_notice": str(conversation.queued_at)}
            )
