"""Agents' presence (a console open means online; closed for a grace period means away) and
typing indicators between a customer and the agent holding their chat (never stored)."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import handoff
from desk.config import DeskSettings
from desk.queues import Queues
from desk.realtime import EventBus
from handoff import State, Typing, User
from handoff.events import about


class Presence:
    """One per desk: the away timers of agents whose last console closed."""

    def __init__(self, settings: DeskSettings, sessions: async_sessionmaker[AsyncSession], queues: Queues, bus: EventBus) -> None:
        self.settings = settings
        self.sessions = sessions
        self.queues = queues
        self.bus = bus
        self._away_timers: dict[int, asyncio.Task] = {}

    async def agent_connected(self, user: User) -> None:
        """A console opened: an offline agent, or one that presence made away, comes online (an
        agent who chose "away" stays away)."""
        timer = self._away_timers.pop(user.id, None)
        if timer:
            timer.cancel()
            # A timer caught in its transaction may still commit "away": let it finish, then read.
            await asyncio.wait([timer])
        async with self.queues.unit_of_work() as session:
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
                async with self.queues.unit_of_work() as session:
                    fresh = await handoff.get_user(session, user.id)
                    if fresh and fresh.status == "online":
                        await handoff.set_agent_status(session, fresh, "away", by="presence")
            self._away_timers.pop(user.id, None)

        self._away_timers[user.id] = asyncio.create_task(later())

    async def customer_typing(self, channel: str, customer_id: str) -> None:
        """Tell the agent holding the chat that the customer is typing (nothing is stored)."""
        async with self.sessions() as session:
            conversation = await handoff.find_open_conversation(session, channel=channel, customer_id=customer_id)
        if conversation is not None and conversation.state in (State.HUMAN, State.QUEUED):
            await self.bus.publish([Typing(**about(conversation), who="customer")])

    async def agent_typing(self, user: User, conversation_id: str) -> None:
        """Tell the customer the agent who holds their chat is typing."""
        async with self.sessions() as session:
            conversation = await handoff.get_conversation(session, conversation_id)
        if conversation.state == State.HUMAN and conversation.agent_id == user.id:
            await self.bus.publish([Typing(**about(conversation), who="agent", agent_name=user.name)])
