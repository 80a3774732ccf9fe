"""The website widget: a signed token per customer, a WebSocket per open page, and delivery of the
bot's and agents' messages to every page the customer has open."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.websockets import WebSocketDisconnected

import handoff
from connectors.base import Channel, InboundMessage
from connectors.identity import CustomerIdentity, IdentityIn, IdentityRefused, identified_customer_id, verify_identity
from connectors.media import MediaStore
from connectors.ratelimit import RateLimits
from core.events import Event
from core.languages import supported
from core.models import database_unavailable, utcnow
from core.security import timestamp_signer
from core.web import receive_text_frame
from handoff.events import MessageAdded, OwnerChanged, QueueUpdate, Typing

logger = logging.getLogger(__name__)

CHANNEL = "widget"
MAX_FRAME_CHARS = 64_000  # a frame larger than this is refused before it is parsed
STATIC = Path(__file__).parent / "static"

HandleInbound = Callable[[InboundMessage], Awaitable[tuple[str, str] | None]]
CustomerView = Callable[[str], Awaitable[dict]]
CustomerTyping = Callable[[str], Awaitable[None]]
# language asked → the desk's setup of a page: "lang" (the one offered), "texts" (greeting, limits),
# "company" and "color" (the admins' words, read afresh: a change shows on the next page opened)
WidgetSetup = Callable[[str], Awaitable[dict]]
Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]
# customer id, verified identity → kept on the customer's record (connectors.customers.remember_identity)
Identify = Callable[[str, CustomerIdentity], Awaitable[None]]


SUBPROTOCOL = "balcao.widget"
# The token travels in the WebSocket handshake's Sec-WebSocket-Protocol header, beside SUBPROTOCOL
# (the only way a browser can add to the handshake): URLs end up in proxies' and servers' logs.
TOKEN_PROTOCOL_PREFIX = "balcao.token."  # noqa: S105 - a protocol name prefix, not a secret
DEFAULT_TOKEN_MAX_AGE_S = 24 * 3600


class InvalidToken(Exception):
    """A widget token that does not verify (forged, or signed with another secret)."""

    def __init__(self, message: str = "this widget token is not valid: start a new chat") -> None:
        super().__init__(message)


class ExpiredToken(InvalidToken):
    """A genuine widget token older than its lifetime (the widget refreshes it before then)."""

    def __init__(self) -> None:
        super().__init__("this chat session has expired, sorry: please start a new chat")


class WidgetTokens:
    """Signed customer tokens: unguessable, a changed token does not verify, and one issued more
    than ``max_age_s`` ago has expired. Refreshing issues a new token for the same customer."""

    def __init__(self, secret: str, *, max_age_s: int = DEFAULT_TOKEN_MAX_AGE_S, clock: Callable[[], float] = time.time) -> None:
        self.max_age_s = max_age_s
        self._serializer = URLSafeTimedSerializer(secret, salt="balcao-widget", signer=timestamp_signer(clock))

    def issue(self, customer_id: str | None = None) -> tuple[str, str]:
        """A token for ``customer_id`` (a new customer when ``None``): the id and the token."""
        customer_id = customer_id or f"w-{uuid.uuid4().hex}"
        return customer_id, self._serializer.dumps({"c": customer_id})

    def verify(self, token: str) -> str:
        """The customer id in ``token``; ``ExpiredToken`` or ``InvalidToken`` when it may not be used."""
        try:
            data = self._serializer.loads(token, max_age=self.max_age_s)
        except SignatureExpired as exc:
            raise ExpiredToken() from exc
        except BadSignature as exc:
            raise InvalidToken() from exc
        if not isinstance(data, dict) or not str(data.get("c", "")).startswith("w-"):
            raise InvalidToken()
        return data["c"]


def offered_token(websocket: WebSocket) -> str:
    """The token a widget offered in its handshake's ``Sec-WebSocket-Protocol`` ("" if none)."""
    for protocol in websocket.scope.get("subprotocols") or ():
        if protocol.startswith(TOKEN_PROTOCOL_PREFIX):
            return protocol[len(TOKEN_PROTOCOL_PREFIX) :]
    return ""


def message_json(event: MessageAdded) -> dict:
    """What a widget shows of a message (its text is shown as text, never as markup)."""
    return {
        "type": "message",
        "id": event.message_id,
        "sender": event.sender,
        "text": event.text,
        "buttons": event.buttons or [],
        "agent_name": event.agent_name,
        "created_at": event.created_at.isoformat(),
        "attachments": public_attachments(event.attachments) if event.sender != "customer" else [],
        "full_text": event.full_text,
    }


def public_attachments(attachments: list[dict] | None) -> list[dict]:
    """What a customer's page shows of a message's files: their names and signed links."""
    return [
        {"kind": a.get("kind"), "name": a.get("name"), "mime": a.get("mime"), "url": a.get("ref")}
        for a in attachments or []
        if str(a.get("ref", "")).startswith(("http://", "https://"))
    ]


class WidgetChannel(Channel):
    """Delivers to every open page of the customer."""

    name = CHANNEL

    def __init__(self) -> None:
        self._sockets: dict[str, set[WebSocket]] = defaultdict(set)
        self._left: dict[str, datetime] = {}

    def attach(self, customer_id: str, websocket: WebSocket) -> None:
        self._sockets[customer_id].add(websocket)
        self._left.pop(customer_id, None)
        if self.presence_changed is not None:
            self.presence_changed()

    def detach(self, customer_id: str, websocket: WebSocket) -> None:
        self._sockets[customer_id].discard(websocket)
        if not self._sockets[customer_id]:
            self._sockets.pop(customer_id, None)
            self._left[customer_id] = datetime.now(UTC)
            if self.presence_changed is not None:
                self.presence_changed()

    def disconnected_since(self, customer_id: str) -> datetime | None:
        return None if self._sockets.get(customer_id) else self._left.get(customer_id)

    def connected_customers(self) -> set[str]:
        return set(self._sockets)

    def is_connected(self, customer_id: str) -> bool:
        return bool(self._sockets.get(customer_id))

    async def deliver(self, event: Event) -> None:
        if isinstance(event, MessageAdded):
            payload = message_json(event)
        elif isinstance(event, OwnerChanged):
            payload = {"type": "state", "state": event.to_state, "agent_name": event.agent_name}
        elif isinstance(event, QueueUpdate):
            payload = {"type": "queue", "position": event.position, "wait_seconds": event.wait_seconds, "open": event.team_open}
        elif isinstance(event, Typing):
            payload = {"type": "typing", "agent_name": event.agent_name}
        else:
            return
        for websocket in list(self._sockets.get(event.customer_id, ())):
            try:
                await websocket.send_json(payload)
            except Exception:  # the page closed between our check and the send
                self.detach(event.customer_id, websocket)


class SessionRequest(BaseModel):
    token: str | None = Field(None, max_length=400)
    identity: IdentityIn | None = Field(None, description="the shop's logged-in customer (connectors.identity)")
    signature: str | None = Field(None, max_length=200, description="HMAC-SHA256 of the identity, hex (docs/identity.md)")


class SessionResponse(BaseModel):
    token: str
    expires_in: int = Field(description="seconds until the token expires; the widget refreshes it before then")


async def _refuse(websocket: WebSocket, reason: InvalidToken) -> None:
    """Refuse a handshake with HTTP 403 and the reason (a browser sees only a failed connection)."""
    try:
        await websocket.send_denial_response(JSONResponse({"detail": str(reason)}, status_code=403))
    except RuntimeError:  # a server without the ASGI denial-response extension: a plain 403
        await websocket.close(code=4403, reason="invalid token")


# The widget is embedded on the shop's own site: its session call is cross-origin. It carries no
# cookie (the token is in the body), so any origin may make it.
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}


@dataclass(frozen=True)
class WidgetOptions:
    """What the desk decides for every widget: the language when the page and the browser name
    none Balcão speaks, the longest message, the desk's setup of a page (its language among
    those offered, its wording, the company's name and colour), the secret the shop's server
    signs its customers' identities with, and where a verified identity is kept."""

    default_language: str = "pt-BR"
    max_chars: int = 4000
    setup: WidgetSetup | None = None
    identity_secret: str = ""  # empty: identities are refused (the hub always has one: hub.secret_store)
    identify: Identify | None = None


class _WidgetRoutes:
    """The widget's endpoints, sharing its tokens, channel, callbacks and rate limits."""

    def __init__(
        self,
        tokens: WidgetTokens,
        channel: WidgetChannel,
        handle: HandleInbound,
        view: CustomerView,
        typing: CustomerTyping,
        limits: RateLimits | None,
        options: WidgetOptions,
    ) -> None:
        self.tokens = tokens
        self.channel = channel
        self.handle = handle
        self.view = view
        self.typing = typing
        self.limits = limits
        self.options = options

    async def page_setup(self, lang: str) -> dict:
        """What an opening page needs besides the history: its language (the desk's default when
        the page offered none Balcão speaks; the desk may choose another it offers), the message
        limit, and the desk's wording, company name and colour for it."""
        setup = await self.options.setup(lang) if self.options.setup else {}
        return {"lang": lang, "texts": {}, **setup, "max_chars": self.options.max_chars}

    async def under_limit(self, *, ip: str | None, customer: str | None = None) -> bool:
        """Whether the address (and the customer, when given) may go on."""
        return self.limits is None or await self.limits.allow(ip=ip, customer=customer)

    async def widget_script(self) -> FileResponse:
        """The script a shop's page embeds."""
        return FileResponse(STATIC / "widget.js", media_type="text/javascript")

    async def widget_session_preflight(self) -> Response:
        """The browser's CORS preflight of the session call."""
        return Response(status_code=204, headers=CORS)

    async def widget_session(self, body: SessionRequest, request: Request, response: Response) -> SessionResponse:
        """A token for a new customer, or a fresh one for a returning customer (403 if forged or
        expired; 429 when the client's address asked for too many). With the shop's signed
        identity, the token is the identified customer's, whatever token came with it; an
        identity whose signature does not verify is refused (403) and nothing of it is kept."""
        response.headers.update(CORS)
        if not await self.under_limit(ip=self.limits.client_ip(request) if self.limits else None):
            raise HTTPException(
                status_code=429, detail="too many chats started from your address: please try again in a minute", headers=CORS
            )
        customer_id = await self._identified(body.identity, body.signature) if body.identity else None
        if body.token and customer_id is None:
            try:
                customer_id = self.tokens.verify(body.token)
            except InvalidToken as exc:
                raise HTTPException(status_code=403, detail=str(exc), headers=CORS) from exc
        _, token = self.tokens.issue(customer_id)
        return SessionResponse(token=token, expires_in=self.tokens.max_age_s)

    async def _identified(self, given: IdentityIn, signature: str | None) -> str:
        """The customer id of the shop's signed identity, kept on their record; 403 when the
        signature is missing or does not match (checked in constant time)."""
        try:
            identity = verify_identity(self.options.identity_secret, given.identity(), signature)
        except IdentityRefused as exc:
            raise HTTPException(status_code=403, detail=str(exc), headers=CORS) from exc
        customer_id = identified_customer_id(identity)
        if self.options.identify is not None:
            await self.options.identify(customer_id, identity)
        return customer_id

    async def widget_socket(self, websocket: WebSocket, lang: str = "") -> None:
        """One open page of a customer: its setup and history first, then its frames until it
        closes. ``lang`` is the language the page chose (``widget.js``: the page's, else the
        browser's); the desk's default when it names none Balcão speaks."""
        try:
            customer_id = self.tokens.verify(offered_token(websocket))
        except InvalidToken as exc:
            await _refuse(websocket, exc)  # before accept: HTTP 403
            return
        setup = await self.page_setup(supported(lang, self.options.default_language))
        page = _Page(websocket, customer_id, setup["lang"], self.limits.client_ip(websocket) if self.limits else None)
        await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in (websocket.scope.get("subprotocols") or ()) else None)
        self.channel.attach(customer_id, websocket)
        try:
            try:
                history = await self.view(customer_id)
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                logger.warning("widget history of %s unavailable (database): %s", customer_id, exc)
                await websocket.close(TRY_AGAIN_LATER)  # the page shows it is offline and reconnects
                return
            await websocket.send_json({"type": "history", **setup, **history})
            while True:
                await self._on_frame(page, await receive_text_frame(websocket))
        # WebSocketDisconnected: the page left while its turn ran (a reply's send found it gone, so
        # the ack cannot go out); the message is stored, and a page that comes back sees it.
        except (WebSocketDisconnect, WebSocketDisconnected):
            pass
        finally:
            self.channel.detach(customer_id, websocket)

    async def _on_frame(self, page: _Page, raw: str | None) -> None:
        """Check one frame (``None``: a binary one), then pass on the customer's typing or message."""
        if raw is None or len(raw) > MAX_FRAME_CHARS:  # binary, or too long: the widget sends short JSON text
            if await self.under_limit(ip=page.ip):  # over the limit, a frame is dropped: answering would feed a flood
                code, why = ("bad_frame", "send JSON text frames") if raw is None else ("too_long", "message too large")
                await page.websocket.send_json({"type": "error", "code": code, "message": why})
            return
        try:
            frame = json.loads(raw)
            if not isinstance(frame, dict) or frame.get("type") not in ("message", "typing"):
                raise ValueError('expected {"type": "message", "text": ...}')
        except ValueError as exc:
            if await self.under_limit(ip=page.ip):
                await page.websocket.send_json({"type": "error", "code": "bad_frame", "message": str(exc)})
            return
        if frame["type"] == "typing":  # its own bucket: typing does not use up the customer's messages
            if await self.under_limit(ip=page.ip, customer=f"{CHANNEL}-typing:{page.customer_id}"):
                await self.typing(page.customer_id)
            return
        await self._on_message(page, frame)

    async def _on_message(self, page: _Page, frame: dict) -> None:
        """Hand a customer's message to the desk; answer with an ack, or the reason it was refused."""
        client_id = str(frame.get("id") or "")[:100] or None
        if not await self.under_limit(ip=page.ip, customer=f"{CHANNEL}:{page.customer_id}"):
            await page.websocket.send_json(
                {"type": "error", "code": "rate_limited", "message": RateLimits.too_fast(page.language), "id": client_id}
            )
            return
        inbound = InboundMessage(
            channel=CHANNEL,
            customer_id=page.customer_id,
            text=str(frame.get("text", "")),
            language=page.language,
            channel_message_id=f"{page.customer_id}:{client_id}" if client_id else None,
            payload=str(frame["payload"])[:500] if frame.get("payload") else None,
        )
        try:
            refusal = await self.handle(inbound)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            logger.warning("widget message of %s not stored, the database is unavailable: %s", page.customer_id, exc)
            text = UNAVAILABLE.get(page.language, UNAVAILABLE["pt-BR"])
            await page.websocket.send_json({"type": "error", "code": "unavailable", "message": text, "id": client_id})
            await page.websocket.close(TRY_AGAIN_LATER)  # the page keeps the message and resends it on reconnecting
            raise WebSocketDisconnect(TRY_AGAIN_LATER) from exc
        if refusal and refusal[1]:
            await page.websocket.send_json({"type": "error", "code": refusal[0], "message": refusal[1], "id": client_id})
        else:
            # Stored and answered: the replies of this turn were sent before this ack.
            await page.websocket.send_json({"type": "ack", "id": client_id})


# Said when the desk cannot store a message right now (its database is unreachable): the widget keeps
# the message and sends it again when it reconnects, so the customer loses nothing.
UNAVAILABLE = {
    "pt-BR": "Estamos com uma instabilidade e sua mensagem ainda não foi registrada. "
    "Ela será enviada automaticamente em instantes; não precisa escrever de novo.",
    "pt-PT": "Estamos com uma instabilidade e a sua mensagem ainda não foi registada. "
    "Será enviada automaticamente dentro de instantes; não precisa de a escrever de novo.",
    "en": "We are having a hiccup and your message has not been recorded yet. "
    "It will be sent automatically in a moment; there is no need to type it again.",
}
TRY_AGAIN_LATER = 1013  # WebSocket close code: the widget reconnects (with back-off) and resends


@dataclass(frozen=True)
class _Page:
    """One open widget page: its socket, its customer, their language and the client's address."""

    websocket: WebSocket
    customer_id: str
    language: str
    ip: str | None


def widget_router(
    tokens: WidgetTokens,
    channel: WidgetChannel,
    handle: HandleInbound,
    view: CustomerView,
    typing: CustomerTyping,
    *,
    limits: RateLimits | None = None,
    options: WidgetOptions | None = None,
) -> APIRouter:
    """Routes of the widget: its script, a token for a new or returning customer, the WebSocket.
    Every frame and every token counts against the client address's rate limit; a message over the
    limit (per customer, per address) is answered with an error frame, other frames are dropped."""
    routes = _WidgetRoutes(tokens, channel, handle, view, typing, limits, options or WidgetOptions())
    router = APIRouter(tags=["widget"])
    router.add_api_route("/widget.js", routes.widget_script, methods=["GET"], include_in_schema=False)
    router.add_api_route("/widget/session", routes.widget_session_preflight, methods=["OPTIONS"], include_in_schema=False)
    router.add_api_route("/widget/session", routes.widget_session, methods=["POST"], response_model=SessionResponse)
    router.add_api_websocket_route("/widget/ws", routes.widget_socket)
    return router


async def customer_view(sessions: Sessions, channel: str, customer_id: str, *, media: MediaStore) -> dict:
    """What a returning customer's page shows: their latest conversation and its state (files sent
    to them with links signed anew by ``media``: the ones stored with the messages expire)."""
    async with sessions() as session:
        conversation = await handoff.latest_conversation(session, channel=channel, customer_id=customer_id)
        if conversation is None:
            return {"messages": [], "state": None}
        messages = await handoff.conversation_history(session, conversation.id, include_notes=False)
        standing = await handoff.queue_standing(session, conversation.id)
        try:
            team = await handoff.get_team(session, standing.team_id) if standing else None
        except handoff.UnknownTeam:  # removed while the chat waited: shown as waiting, without a place
            team = None
        agent = await handoff.get_user(session, conversation.agent_id) if conversation.agent_id else None
    queue = None
    if standing and team:  # while the team is closed the place and wait mean nothing: the page says it is closed
        queue = {"position": standing.position, "wait_seconds": standing.wait_seconds, "open": handoff.is_open(team, utcnow())}
    return {
        "state": conversation.state,
        "agent_name": agent.name if agent else None,
        "queue": queue,
        "messages": [
            {
                "id": m.id,
                "sender": m.sender,
                "text": m.text,
                "buttons": m.buttons or [],
                "agent_name": agent.name if (agent and m.sender == "agent") else None,
                "created_at": m.created_at.isoformat(),
                "attachments": public_attachments(media.fresh_attachments((m.data or {}).get("attachments")))
                if m.sender != "customer"
                else [],
                "full_text": (m.data or {}).get("full_text") if m.sender == "bot" else None,
                # the widget's own id of a message it sent, so it knows which ones were stored
                "client_id": m.channel_message_id.split(":", 1)[1] if m.sender == "customer" and m.channel_message_id else None,
            }
            for m in messages
        ],
    }
