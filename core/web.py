"""What every package's routes share: page templates over the one base page, and a typed view of
the services the hub puts on ``app.state``.

Routes never import ``hub`` (it is the composition root that imports them): they reach this
process's services through ``request.app.state``, read with ``app_state(request)``. The Protocols
below say only what routes use, so the hub is free to build those services as it likes. Core imports
no package at run time; the package types named here are for the type checker only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol, cast

from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket, WebSocketDisconnect

if TYPE_CHECKING:
    from connectors.login_throttle import LoginThrottle
    from connectors.media import MediaStore
    from connectors.ratelimit import RateLimits
    from handoff.models import User
    from kb_index import KnowledgeIndex, SearchResult

TEMPLATES = Path(__file__).parent / "templates"
"""The shared templates: ``page.html``, the base every page extends (one design system)."""

STATIC = Path(__file__).parent / "static"
"""The design system every page links: Pico CSS (``vendor/``) and the desk's ``balcao.css``, served at
``/static``."""


def page_templates(directory: Path) -> Jinja2Templates:
    """The templates of one package's pages (``directory``), which extend the shared ``page.html``."""
    loader = ChoiceLoader([FileSystemLoader(directory), FileSystemLoader(TEMPLATES)])
    return Jinja2Templates(env=Environment(loader=loader, autoescape=select_autoescape(["html"])))


DB_INT_MIN, DB_INT_MAX = -(2**31), 2**31 - 1
"""The range of the database's INTEGER columns (PostgreSQL's is 32 bits; SQLite's 64)."""

DbInt = Annotated[int, Field(ge=DB_INT_MIN, le=DB_INT_MAX)]
"""An integer a request compares with an INTEGER column (an id, a version): out of the column's
range it is refused with 422 instead of failing in the database driver (a 500)."""


async def receive_text_frame(websocket: WebSocket) -> str | None:
    """The next text frame of ``websocket``; None for a binary frame (Starlette's ``receive_text``
    fails on one with a KeyError, which ended the connection as a server error). Raises
    ``WebSocketDisconnect`` when the client went away."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    return message.get("text")


AgentSend = Callable[[dict], Awaitable[None]]
AgentClose = Callable[[], Awaitable[None]]


@dataclass(eq=False)
class AgentConnection:
    """An open agent console: whose it is and which teams' conversations it may receive."""

    user_id: int
    team_ids: frozenset[str] | None  # None: every team (supervisor, admin)
    send: AgentSend
    close: AgentClose  # when the user's sessions end (the console then goes to the login page)


class RouteSettings(Protocol):
    """The settings routes read (the hub's ``Settings`` has them all)."""

    max_message_chars: int
    media_max_bytes: int
    kb_cluster_similarity: float | None
    report_timezone: str
    service_level_seconds: int
    fcr_days: int
    public_url: str
    port: int
    invitation_hours: int


class AgentEvents(Protocol):
    """The real-time bus as the console's WebSocket and the dashboard use it."""

    def connect_agent(self, connection: AgentConnection) -> None:
        """Start sending the events this console may see to it."""

    def disconnect_agent(self, connection: AgentConnection) -> None:
        """Stop sending events to this console."""

    async def online_agents(self) -> int:
        """How many agents have a console open, on any hub replica."""


class DeskServices(Protocol):
    """The desk's services that routes call."""

    @property
    def index(self) -> KnowledgeIndex:
        """This process's knowledge-base index."""

    @property
    def bus(self) -> AgentEvents:
        """This process's real-time bus."""

    def sessions(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A read-only session (for reads whose result is only shown)."""

    def unit_of_work(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A transaction whose real-time events are sent once it has committed."""

    async def search(self, question: str, lang: str, *, conversation_id: str | None = None) -> SearchResult:
        """What the knowledge base makes of a question."""

    async def run_ending(self, conversation_id: str, *, ending: str) -> None:
        """Ask the customer the NPS question that ends the conversation."""

    async def agent_connected(self, user: User) -> None:
        """A console opened."""

    async def agent_disconnected(self, user: User) -> None:
        """A console closed."""

    async def agent_typing(self, user: User, conversation_id: str) -> None:
        """Tell the customer the agent who holds their chat is typing."""


class IndexCatchUp(Protocol):
    """This process's follower of the knowledge base's change log."""

    async def catch_up(self) -> int:
        """Apply the changes not applied yet (right after this process's own commits)."""


class UnansweredSettling(Protocol):
    """Re-runs open unanswered questions after a publication (``kb_index.UnansweredSettler``)."""

    async def after_publish(self, *, lang: str, wording: Sequence[str]) -> int:
        """The closest questions re-run now; every other open one of the family in the background."""


TeamArticles = Callable[[AsyncSession, str], Awaitable[list[str]]]
"""The ids of the articles that hand customers to a team (read in the caller's session): handoff
asks before it removes a team, without importing the knowledge base."""


class AppState(Protocol):
    """What the hub puts on ``app.state`` for routes."""

    desk: DeskServices
    read_sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]]  # reads only: no SQLite write lock
    settings: RouteSettings
    media: MediaStore
    kb_follower: IndexCatchUp
    unanswered: UnansweredSettling
    rate_limits: RateLimits  # also who a request's client is (behind BALCAO_TRUSTED_PROXIES)
    login_throttle: LoginThrottle
    team_articles: TeamArticles


def app_state(connection: HTTPConnection) -> AppState:
    """The services of the app serving ``connection`` (a request or a WebSocket)."""
    return cast("AppState", connection.app.state)
