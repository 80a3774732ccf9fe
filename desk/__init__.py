"""The desk's flows between the packages: customers' messages routed by owner, queues, endings and
the NPS survey, agents' presence, the services the Rasa actions call, and real-time delivery.

The hub (the composition root) builds one ``Desk`` and passes it its settings, sessions, index,
event bus and Rasa client; this package never imports the hub."""

from desk._desk import Desk
from desk.actions_endpoint import actions_router
from desk.config import DeskSettings
from desk.endings import inactivity_loop
from desk.inbound import Refused
from desk.rasa import BotReply, RasaBridge, RasaClient, RasaUnavailable
from desk.realtime import AgentConnection, EventBus, RelayUnavailable, ReplicaRelay

__all__ = [
    "AgentConnection",
    "BotReply",
    "Desk",
    "DeskSettings",
    "EventBus",
    "RasaBridge",
    "RasaClient",
    "RasaUnavailable",
    "Refused",
    "RelayUnavailable",
    "ReplicaRelay",
    "actions_router",
    "inactivity_loop",
]
