"""Real-time delivery: the one place that decides who receives each event, after commit.

One hub process delivers to the sockets it holds. With several hub replicas (``BALCAO_REDIS_URL``
set), each also hands its committed events to the others over Redis pub/sub, and keeps in Redis
which agents have a console open on it, so presence and the "agents online" counter see every
replica, and which customers' widgets are connected to it, so a customer who moved to another
replica is not taken for one who left the queue."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Annotated

import redis.asyncio as aioredis
from pydantic import Field, TypeAdapter, ValidationError
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

import handoff
from connectors import outbox
from connectors.base import Channel, OutboxChannel
from connectors.outbox import DeliveryChanged
from core.events import Event, RealtimeEvent, pending_events
from core.web import AgentConnection  # the console's WebSocket (handoff.routes) opens them
from handoff.events import AgentStatusChanged, MessageAdded, OwnerChanged, QueueUpdate, SessionsEnded, Typing, WordsChanged
from insights.alerts import DetractorAlert

logger = logging.getLogger(__name__)

AnyEvent = RealtimeEvent  # an Event about a conversation (a DetractorAlert too), or an agent's status

# Every event type a replica may receive from another, told apart by its ``type``.
_RELAYED = TypeAdapter(
    list[
        Annotated[
            MessageAdded
            | OwnerChanged
            | QueueUpdate
            | Typing
            | DeliveryChanged
            | AgentStatusChanged
            | DetractorAlert
            | SessionsEnded
            | WordsChanged,
            Field(discriminator="type"),
        ]
    ]
)
CONSOLES_TTL_S = 30  # a replica that stops refreshing its consoles (it died) stops counting after this
RETRY_S = 1.0
PRESENCE_COALESCE_S = 0.2


class RelayUnavailable(RuntimeError):
    """The hub was told to use Redis (``BALCAO_REDIS_URL``) and cannot reach it."""


class ReplicaRelay:
    """Carries committed events between hub replicas over Redis pub/sub, and keeps in Redis which
    agents have a console open on this replica (one hash per replica, refreshed every
    ``CONSOLES_TTL_S`` / 3 seconds and expiring after ``CONSOLES_TTL_S``)."""

    def __init__(self, url: str, *, prefix: str = "balcao") -> None:
        self.url = url
        self.prefix = prefix
        self.redis = aioredis.from_url(url)
        self.events_channel = f"{prefix}:events"
        self.consoles_prefix = f"{prefix}:consoles:"
        self.customers_prefix = f"{prefix}:customers:"  # customers connected to each replica (the widget)
        self.origin = uuid.uuid4().hex  # this replica: its own messages come back and are skipped
        self._pubsub: aioredis.client.PubSub | None = None

    async def subscribe(self) -> None:
        """Listen to the other replicas from now on (called before the hub serves, so nothing
        published meanwhile is missed). Raises ``RelayUnavailable`` when Redis does not answer."""
        pubsub = self.redis.pubsub()
        try:
            await pubsub.subscribe(self.events_channel)
        except (RedisError, OSError) as exc:
            await pubsub.aclose()
            raise RelayUnavailable(f"cannot reach Redis at BALCAO_REDIS_URL={self.url}: {exc}") from exc
        self._pubsub = pubsub

    async def send(self, events: Sequence[AnyEvent]) -> None:
        """Publish committed events for the other replicas. If Redis is down they miss them (this
        replica's own sockets already have them; what was stored is untouched and every console and
        widget reloads it when it reconnects)."""
        body = json.dumps({"origin": self.origin, "events": [e.model_dump(mode="json") for e in events]})
        try:
            await self.redis.publish(self.events_channel, body)
        except (RedisError, OSError) as exc:
            logger.warning("Redis: %d events not relayed to the other hubs: %s", len(events), exc)

    async def listen(self, deliver: Callable[[Sequence[AnyEvent]], Awaitable[None]]) -> None:
        """Hand the other replicas' events to ``deliver`` until cancelled; subscribe again after a
        Redis error."""
        while True:
            try:
                if self._pubsub is None:
                    await self.subscribe()
                pubsub = self._pubsub
                if pubsub is None:  # subscribe() always sets it; this tells the type checker
                    raise RelayUnavailable("no Redis subscription")
                async for message in pubsub.listen():
                    if message["type"] != "message":
                        continue
                    try:
                        data = json.loads(message["data"])
                        if data.get("origin") == self.origin:
                            continue
                        events = _RELAYED.validate_python(data["events"])
                    except (ValueError, KeyError, TypeError, ValidationError):
                        logger.warning("ignoring a malformed message on %s", self.events_channel)
                        continue
                    await deliver(events)
                raise RelayUnavailable("the subscription ended")
            except (RedisError, OSError, RelayUnavailable) as exc:
                logger.warning("Redis: not hearing the other hubs (%s); trying again", exc)
                await self._drop_pubsub()
                await asyncio.sleep(RETRY_S)

    async def store_consoles(self, consoles: dict[int, str]) -> None:
        """Replace this replica's record of open consoles (user id → "agent" or "staff")."""
        key = self.consoles_prefix + self.origin
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                if consoles:
                    pipe.hset(key, mapping={str(user_id): kind for user_id, kind in consoles.items()})
                    pipe.expire(key, CONSOLES_TTL_S)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            logger.warning("Redis: open consoles not recorded: %s", exc)

    async def consoles_elsewhere(self) -> dict[int, str]:
        """The consoles open on the other replicas (user id → "agent" or "staff"); empty when
        Redis does not answer."""
        found: dict[int, str] = {}
        own = (self.consoles_prefix + self.origin).encode()
        try:
            async for key in self.redis.scan_iter(match=self.consoles_prefix + "*"):
                if key != own:
                    for user_id, kind in (await self.redis.hgetall(key)).items():
                        found[int(user_id)] = kind.decode() if isinstance(kind, bytes) else kind
        except (RedisError, OSError) as exc:
            logger.warning("Redis: other hubs' consoles unknown: %s", exc)
        return found

    async def store_customers(self, customers: set[str]) -> None:
        """Replace this replica's record of connected customers ("<channel>:<customer id>")."""
        key = self.customers_prefix + self.origin
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                if customers:
                    pipe.sadd(key, *customers)
                    pipe.expire(key, CONSOLES_TTL_S)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            logger.warning("Redis: connected customers not recorded: %s", exc)

    async def customer_elsewhere(self, customer: str) -> bool | None:
        """Whether another replica has ``customer`` ("<channel>:<customer id>") connected; ``None``
        when Redis does not answer (nobody can tell)."""
        own = (self.customers_prefix + self.origin).encode()
        try:
            async for key in self.redis.scan_iter(match=self.customers_prefix + "*"):
                if key != own and await self.redis.sismember(key, customer):
                    return True
        except (RedisError, OSError) as exc:
            logger.warning("Redis: other hubs' customers unknown: %s", exc)
            return None
        return False

    async def _drop_pubsub(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()
            self._pubsub = None

    async def close(self) -> None:
        """Unsubscribe, forget this replica's consoles and close the connections."""
        await self._drop_pubsub()
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(self.consoles_prefix + self.origin, self.customers_prefix + self.origin)
        await self.redis.aclose()


class EventBus:
    """Routes events to customers (through their channel) and to the agents allowed to see them;
    with a ``relay``, to those connected to the other hub replicas too."""

    def __init__(self, relay: ReplicaRelay | None = None) -> None:
        self.channels: dict[str, Channel] = {}
        self._agents: dict[int, set[AgentConnection]] = defaultdict(set)
        self.relay = relay
        self._consoles_changed = asyncio.Event()
        self.words_changed: Callable[[], None] | None = None  # the desk's words cache forgets its copy

    def add_channel(self, channel: Channel) -> None:
        self.channels[channel.name] = channel
        channel.presence_changed = self._consoles_changed.set  # the other replicas learn who is connected here

    def connect_agent(self, connection: AgentConnection) -> None:
        self._agents[connection.user_id].add(connection)
        self._consoles_changed.set()

    def disconnect_agent(self, connection: AgentConnection) -> None:
        self._agents[connection.user_id].discard(connection)
        if not self._agents[connection.user_id]:
            self._agents.pop(connection.user_id, None)
        self._consoles_changed.set()

    def _consoles_here(self) -> dict[int, str]:
        """User id → "agent" (a team member) or "staff" (sees every team) for this process's consoles."""
        return {
            user_id: "agent" if any(c.team_ids is not None for c in conns) else "staff" for user_id, conns in self._agents.items()
        }

    @staticmethod
    def customer_sees(event: AnyEvent) -> bool:
        """Customers see what the bot, agents and the system say to them (never private notes nor
        their own echo), owner changes, their place in the queue, and an agent (or the bot) typing."""
        if isinstance(event, MessageAdded):
            return event.sender != "customer" and not event.internal
        if isinstance(event, Typing):
            return event.who != "customer"
        return isinstance(event, (OwnerChanged, QueueUpdate))

    def _customers_here(self) -> set[str]:
        """ "<channel>:<customer id>" of every customer connected to this process (widget pages)."""
        return {f"{name}:{customer}" for name, channel in self.channels.items() for customer in channel.connected_customers()}

    async def customer_left(self, channel: str, customer_id: str) -> datetime | None:
        """When the customer closed their last connection (the widget), ``None`` while they are
        connected on this replica or, with a relay, on another one: a customer who moved to another
        replica has not left. When Redis does not answer, this replica's view is the answer."""
        adapter = self.channels.get(channel)
        left = adapter.disconnected_since(customer_id) if adapter else None
        if left is not None and self.relay is not None and await self.relay.customer_elsewhere(f"{channel}:{customer_id}"):
            return None
        return left

    async def online_agents(self) -> int:
        """How many agents (team members, not supervisors) have a console open, on any hub replica."""
        consoles = self._consoles_here()
        if self.relay is not None:
            consoles = {**await self.relay.consoles_elsewhere(), **consoles}
        return sum(1 for kind in consoles.values() if kind == "agent")

    @staticmethod
    def agent_sees(connection: AgentConnection, event: AnyEvent) -> bool:
        """Agents see events of their teams' conversations and of the conversations they hold;
        supervisors see everything, including agents' availability; detractor alerts go to
        supervisors and admins (the consoles that see every team)."""
        if isinstance(event, DetractorAlert):
            return connection.team_ids is None
        if isinstance(event, QueueUpdate) or (isinstance(event, Typing) and event.who != "customer"):
            return False
        if isinstance(event, AgentStatusChanged):
            return connection.team_ids is None or connection.user_id == event.user_id
        if not isinstance(event, Event):
            return connection.team_ids is None  # about no conversation: the staff's consoles
        if connection.team_ids is None or event.agent_id == connection.user_id:
            return True
        teams = {event.team_id, getattr(event, "previous_team_id", None)} - {None}
        return bool(teams & connection.team_ids)

    async def agent_online(self, user_id: int) -> bool:
        """Whether the agent has a console open, in this process or on another hub replica."""
        if self._agents.get(user_id):
            return True
        return self.relay is not None and user_id in await self.relay.consoles_elsewhere()

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

    async def publish(self, events: Sequence[AnyEvent]) -> None:
        """Deliver committed events, in order, here and (with a relay) on the other replicas. A
        failing recipient never blocks the others."""
        await self.deliver_here(events)
        if self.relay is not None and events:
            await self.relay.send(events)

    async def deliver_here(self, events: Sequence[AnyEvent], *, relayed: bool = False) -> None:
        """Deliver events to the customers and agents connected to this process (``relayed``: they
        came from another replica, which already sent what goes through a platform's API)."""
        for event in events:
            if isinstance(event, SessionsEnded):
                await self._close_consoles(event.user_id)
                continue
            if isinstance(event, WordsChanged):
                if self.words_changed is not None:
                    self.words_changed()
                continue
            if isinstance(event, Event) and self.customer_sees(event):
                channel = self.channels.get(event.channel)
                # A typing indicator for Telegram is an API call: the replica that published it made it.
                platform_typing = isinstance(event, Typing) and isinstance(channel, OutboxChannel)
                if channel is not None and not (relayed and platform_typing):
                    try:
                        await channel.deliver(event)
                    except Exception:  # a broken socket must not stop the agents' updates
                        logger.exception("delivering %s to %s failed", event.type, event.channel)
            targets = [c for conns in self._agents.values() for c in conns if self.agent_sees(c, event)]
            if targets:  # no console open for it (most bot turns): nothing to serialise
                payload = event.model_dump(mode="json")
                await asyncio.gather(*(self._send_agent(c, payload) for c in targets))

    async def run_relay(self) -> None:
        """With a relay, until cancelled: deliver the other replicas' events here, and keep this
        replica's open consoles (at once on a change, and before they expire) and connected customers
        (every ``CONSOLES_TTL_S`` / 3 seconds) recorded in Redis."""
        if self.relay is None:
            return
        relay = self.relay

        async def keep_consoles() -> None:
            while True:
                await asyncio.sleep(PRESENCE_COALESCE_S)  # a burst of connections is recorded once
                self._consoles_changed.clear()
                await relay.store_consoles(self._consoles_here())
                await relay.store_customers(self._customers_here())
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._consoles_changed.wait(), CONSOLES_TTL_S / 3)

        async def deliver_relayed(events: Sequence[AnyEvent]) -> None:
            await self.deliver_here(events, relayed=True)

        await asyncio.gather(relay.listen(deliver_relayed), keep_consoles())

    async def _close_consoles(self, user_id: int) -> None:
        """Close the user's consoles open on this process (their sessions ended)."""
        for connection in list(self._agents.get(user_id, ())):
            try:
                await connection.close()
            except Exception:  # already gone: nothing left to close
                logger.info("agent console %s was already closed", user_id)
            self.disconnect_agent(connection)

    async def _send_agent(self, connection: AgentConnection, payload: dict) -> None:
        try:
            await connection.send(payload)
        except Exception:
            logger.info("agent console %s went away", connection.user_id)
            self.disconnect_agent(connection)
