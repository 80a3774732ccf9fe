"""Real-time delivery: the one place that decides who receives each event, after commit."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from connectors.base import Channel
from handoff.events import Event, MessageAdded, OwnerChanged
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
    def customer_sees(event: Event) -> bool:
        """Customers see what the bot, agents and the system say to them, and owner changes;
        never their own echo."""
        if isinstance(event, MessageAdded):
            return event.sender != "customer"
        return isinstance(event, OwnerChanged)

    def online_agents(self) -> int:
        """How many agents (team members, not supervisors) have a console open on this hub."""
        return sum(1 for conns in self._agents.values() if any(c.team_ids is not None for c in conns))

    @staticmethod
    def agent_sees(connection: AgentConnection, event: Event) -> bool:
        """Agents see events of their teams' conversations and of the conversations they hold;
        detractor alerts go to supervisors and admins (the consoles that see every team)."""
        if isinstance(event, DetractorAlert):
            return connection.team_ids is None
        if connection.team_ids is None or event.agent_id == connection.user_id:
            return True
        return event.team_id is not None and event.team_id in connection.team_ids

    async def publish(self, events: list[Event]) -> None:
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
