"""Real-time delivery: the one place that decides who receives each event, after commit."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

import handoff
from connectors import outbox
from connectors.base import Channel, OutboxChannel
from handoff.events import AgentStatusChanged, Event, MessageAdded, OwnerChanged, QueueUpdate, Typing, pending_events
from insights.alerts import DetractorAlert

logger = logging.getLogger(__name__)

AgentSend = Callable[[dict], Awaitable[None]]


@dataclass(eq=False)
class AgentConnection:
    """An open agent console: whose it is and which teams' conversations it may receive."""

    user_id: int
    team_ids: frozenset[str] | None  # None: every team (supervisor, admin)
    send: AgentSend


class EventBus:
    """Routes events to customers (through their channel) and to the agents allowed to see them."""

    def __init__(self) -> None:
        self.channels: dict[str, Channel] = {}
        self._agents: dict[int, set[AgentConnection]] = defaultdict(set)

    def add_channel(self, channel: Channel) -> None:
        self.channels[channel.name] = channel

    def connect_agent(self, connection: AgentConnection) -> None:
        self._agents[connection.user_id].add(connection)

    def disconnect_agent(self, connection: AgentConnection) -> None:
        self._agents[connection.user_id].discard(connection)

    @staticmethod
    def customer_sees(event: Event | AgentStatusChanged) -> bool:
        """Customers see what the bot, agents and the system say to them (never private notes nor
        their own echo), owner changes, their place in the queue, and an agent typing."""
        if isinstance(event, MessageAdded):
            return event.sender != "customer" and not event.internal
        if isinstance(event, Typing):
            return event.who == "agent"
        return isinstance(event, (OwnerChanged, QueueUpdate))

    def online_agents(self) -> int:
        """How many agents (team members, not supervisors) have a console open on this hub."""
        return sum(1 for conns in self._agents.values() if any(c.team_ids is not None for c in conns))

    @staticmethod
    def agent_sees(connection: AgentConnection, event: Event | AgentStatusChanged | DetractorAlert) -> bool:
        """Agents see events of their teams' conversations and of the conversations they hold;
        supervisors see everything, including agents' availability; detractor alerts go to
        supervisors and admins (the consoles that see every team)."""
        if isinstance(event, DetractorAlert):
            return connection.team_ids is None
        if isinstance(event, QueueUpdate) or (isinstance(event, Typing) and event.who == "agent"):
            return False
        if isinstance(event, AgentStatusChanged):
            return connection.team_ids is None or connection.user_id == event.user_id
        if connection.team_ids is None or event.agent_id == connection.user_id:
            return True
        teams = {event.team_id, getattr(event, "previous_team_id", None)} - {None}
        return bool(teams & connection.team_ids)

    def agent_online(self, user_id: int) -> bool:
        """Whether the agent has a console open in this process."""
        return bool(self._agents.get(user_id))

    async def stage(self, session: AsyncSession) -> None:
        """Before commit: write an outbox row for every event a Telegram or WhatsApp customer
        should see, in the same transaction as the change itself (so none is ever lost)."""
        for event in pending_events(session):
            if not isinstance(event, Event):
                continue  # e.g. an agent's status: nothing for customers
            channel = self.channels.get(event.channel)
            if isinstance(channel, OutboxChannel) and self.customer_sees(event):
                conversation = await handoff.get_conversation(session, event.conversation_id)
                await outbox.stage_event(session, channel, event, conversation)

    async def publish(self, events: list[Event | AgentStatusChanged]) -> None:
        """Deliver committed events, in order. A failing recipient never blocks the others."""
        for event in events:
            if self.customer_sees(event):
                channel = self.channels.get(event.channel)
                if channel is not None:
                    try:
                        await channel.deliver(event)
                    except Exception:  # a broken socket must not stop the agents' updates
                        logger.exception("delivering %s to %s failed", event.type, event.channel)
            payload = event.model_dump(mode="json")
            targets = [c for conns in self._agents.values() for c in conns if self.agent_sees(c, event)]
            if targets:
                await asyncio.gather(*(self._send_agent(c, payload) for c in targets))

    async def _send_agent(self, connection: AgentConnection, payload: dict) -> None:
        try:
            await connection.send(payload)
        except Exception:
            logger.info("agent console %s went away", connection.user_id)
            self.disconnect_agent(connection)
