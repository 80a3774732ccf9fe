"""WhatsApp through Twilio (twilio 9): a signed inbound webhook, status callbacks, numbered options
for buttons, the 24-hour customer-service window, and replies through the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta

import aiohttp
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.rest.api.v2010.account.message import MessageInstance

from connectors.base import (
    Attachment,
    InboundMessage,
    OutboxChannel,
    Plan,
    RetryLater,
    SendFailed,
    numbered,
    plain_text,
    split_text,
)
from connectors.inbound_media import FETCH_ERROR, TOO_LARGE, FetchRefused, discard, fetch_into, location
from connectors.media import MediaStore
from connectors.models import ChannelCustomer, Delivery, OutboxMessage
from connectors.ratelimit import RateLimits
from core.events import Event
from core.models import aware
from handoff.models import Conversation

logger = logging.getLogger(__name__)

CHANNEL = "whatsapp"
MAX_CHARS = 1600  # Twilio's limit for one WhatsApp message body
# How many of a customer's latest messages are read to learn whether a send that never got its
# answer was taken: more than a customer's replies of the last minutes.
RECONCILE_LOOKBACK = 50
SIGNATURE_HEADER = "X-Twilio-Signature"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# Twilio's message statuses → the outbox's (queued/accepted/sending say nothing new).
STATUSES = {
    "sent": Delivery.SENT,
    "delivered": Delivery.DELIVERED,
    "read": Delivery.READ,
    "failed": Delivery.FAILED,
    "undelivered": Delivery.FAILED,
}
REPLY_WITH_NUMBER = {"pt-BR": "Responda com o número.", "pt-PT": "Responda com o número.", "en": "Reply with the number."}
_OPTION = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")

HandleInbound = Callable[[InboundMessage], Awaitable[tuple[str, str] | None]]
Tell = Callable[[InboundMessage, str], Awaitable[None]]
OnStatus = Callable[[str, str, str | None], Awaitable[None]]


def customer_id_of(address: str) -> str:
    """``whatsapp:+5511987654321`` → ``wa-+5511987654321``."""
    return "wa-" + address.removeprefix("whatsapp:")


def parse_form(form: Mapping[str, str], *, language: str) -> InboundMessage | None:
    """The customer's message in Twilio's inbound webhook form, or ``None`` if it is not one."""
    sid, sender = form.get("MessageSid"), form.get("From", "")
    if not sid or not sender.startswith("whatsapp:"):
        return None
    body = (form.get("Body") or "").strip()
    attachments = []
    try:
        count = min(int(form.get("NumMedia") or 0), 10)
    except ValueError:
        count = 0
    for i in range(count):
        url, mime = form.get(f"MediaUrl{i}"), form.get(f"MediaContentType{i}") or ""
        if url:
            kind = (
                "image"
                if mime.startswith("image/")
                else "audio"
                if mime.startswith("audio/")
                else "video"
                if mime.startswith("video/")
                else "document"
            )
            attachments.append(Attachment(kind, url, mime or None))
    with contextlib.suppress(KeyError, ValueError):  # a shared location: Twilio sends its coordinates as fields
        attachments.append(location(float(form["Latitude"]), float(form["Longitude"])))
    text = body or (f"[{attachments[0].kind}]" if attachments else "")
    option = _OPTION.match(body)
    return InboundMessage(
        channel=CHANNEL,
        customer_id=customer_id_of(sender),
        text=text,
        language=language,
        channel_message_id=sid,
        customer_name=(form.get("ProfileName") or "")[:120] or None,
        option=int(option.group(1)) if option else None,
        attachments=tuple(attachments),
        address=sender,
    )


def render(body: dict) -> str:
    """Plain text for WhatsApp: **bold** markers dropped, buttons as a numbered list."""
    text = plain_text(str(body.get("text") or ""))
    buttons = body.get("buttons") or []
    if numbered(buttons):
        options = "\n".join(f"{i}. {b['title']}" for i, b in enumerate(buttons, 1))
        hint = REPLY_WITH_NUMBER.get(body.get("language") or "pt-BR", REPLY_WITH_NUMBER["pt-BR"])
        text = f"{text}\n\n{options}\n\n{hint}"
    return text


def public_url_of(request: Request, public_url: str, *, trust_proxy_headers: bool) -> str:
    """The URL Twilio called, which is what it signed: the configured public URL (or, behind a
    trusted proxy, the forwarded scheme and host) plus the path and query."""
    if trust_proxy_headers and request.headers.get("x-forwarded-host"):
        scheme = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
        base = f"{scheme}://{request.headers['x-forwarded-host'].split(',')[0].strip()}"
    else:
        base = public_url.rstrip("/")
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{base}{request.url.path}{query}"


class WhatsAppChannel(OutboxChannel):
    """Sends the outbox's rows through Twilio's Messages API (its async client)."""

    name = CHANNEL
    max_chars = MAX_CHARS
    confirms_sends = True  # Twilio lists what the account sent

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        status_callback_url: str | None,
        api_url: str | None = None,
        window: timedelta = timedelta(hours=24),
        followup_content_sid: str | None = None,
        timeout_s: float = 15.0,
    ) -> None:
        super().__init__()
        self.timeout_s = timeout_s
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number if from_number.startswith("whatsapp:") else f"whatsapp:{from_number}"
        self.status_callback_url = status_callback_url
        self.api_url = api_url
        self.window = window
        self.followup_content_sid = followup_content_sid
        self.validator = RequestValidator(auth_token)
        self._http: AsyncTwilioHttpClient | None = None
        self._client: Client | None = None

    async def start(self) -> None:
        """Open the HTTP session (it must be created inside the running event loop)."""
        self._http = AsyncTwilioHttpClient()
        self._client = Client(self.account_sid, self.auth_token, http_client=self._http)
        if self.api_url:
            self._client.api.base_url = self.api_url.rstrip("/")

    async def stop(self) -> None:
        if self._http is not None and self._http.session is not None:
            await self._http.session.close()

    async def fetch_media(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        """A file the customer sent, from the media URL Twilio gave (the webhook that named it was
        signed by Twilio), with the account's Basic auth; read no further than ``max_bytes``."""
        auth = aiohttp.BasicAuth(self.account_sid, self.auth_token)
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
            session.get(attachment.ref, auth=auth) as response,
        ):
            if response.status != 200:
                raise FetchRefused(FETCH_ERROR, f"Twilio answered {response.status}")
            if (response.content_length or 0) > max_bytes:
                raise FetchRefused(TOO_LARGE, f"{response.content_length} bytes")
            content = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                content += chunk
                if len(content) > max_bytes:
                    raise FetchRefused(TOO_LARGE, f"more than {max_bytes} bytes")
            return bytes(content)

    def window_open(self, conversation: Conversation, now: datetime) -> bool:
        """Free-form messages may be sent within 24 hours of the customer's last message."""
        last = aware(conversation.last_customer_at)
        return last is not None and now - last < self.window

    async def plan(
        self, session: AsyncSession, event: Event, conversation: Conversation, customer: ChannelCustomer | None, now: datetime
    ) -> Plan | None:
        plan = await super().plan(session, event, conversation, customer, now)
        if plan is None or plan.body is None or self.window_open(conversation, now):
            return plan
        closed_at = aware(conversation.last_customer_at)
        reason = f"WhatsApp's 24-hour window closed at {closed_at.isoformat() if closed_at else '?'}: free-form messages are not allowed"
        if self.followup_content_sid and not await self._followup_sent(session, conversation, closed_at):
            return Plan({"content_sid": self.followup_content_sid, "language": conversation.language, "replaces": reason})
        return Plan(None, reason)

    async def _followup_sent(self, session: AsyncSession, conversation: Conversation, since: datetime | None) -> bool:
        """One follow-up template per closed window, not one per message."""
        rows = (await session.execute(select(OutboxMessage).where(OutboxMessage.conversation_id == conversation.id))).scalars()
        return any(r.body.get("content_sid") and (since is None or aware(r.created_at) > since) for r in rows)

    async def send(self, row: OutboxMessage, address: str) -> str | None:
        """Send the row (split at 1600 characters; its files, by their signed URLs, with the last
        part), or its template."""
        assert self._client is not None, "WhatsAppChannel.start() was not called"  # noqa: S101 - a programming error, not input
        extra = {"status_callback": self.status_callback_url} if self.status_callback_url else {}
        bodies = self._bodies(row)
        sid = None
        for index in range(row.parts_sent, len(bodies)):
            try:
                # twilio's async client passes no timeout to aiohttp (none at all): bound it here.
                async with asyncio.timeout(self.timeout_s):
                    message = await self._create(address, row, bodies, index, extra)
            except TwilioRestException as exc:
                if exc.status == 429 or exc.status >= 500:
                    raise RetryLater(f"Twilio {exc.status}: {exc.msg}") from exc
                raise SendFailed(f"Twilio refused the message ({exc.code or exc.status}): {exc.msg}") from exc
            except (TimeoutError, aiohttp.ClientError, OSError, TwilioException) as exc:
                raise RetryLater(f"Twilio unreachable: {type(exc).__name__}: {exc}") from exc
            row.parts_sent = index + 1
            sid = message.sid
        return sid

    async def _create(
        self, address: str, row: OutboxMessage, bodies: Sequence[str | None], index: int, extra: dict[str, str]
    ) -> MessageInstance:
        """One part of the row: its text (with the files, on the last part) or its template."""
        assert self._client is not None  # noqa: S101 - send() checked it
        if bodies[index] is None:
            return await self._client.messages.create_async(
                to=address,
                from_=self.from_number,
                content_sid=row.body["content_sid"],
                content_variables=json.dumps(row.body.get("variables") or {}),
                **extra,
            )
        media = [str(f["url"]) for f in row.body.get("attachments") or []] if index == len(bodies) - 1 else []
        files = {"media_url": media} if media else {}
        return await self._client.messages.create_async(to=address, from_=self.from_number, body=bodies[index], **files, **extra)

    @staticmethod
    def _bodies(row: OutboxMessage) -> Sequence[str | None]:
        """The texts of the row's parts (None: its template instead of a text)."""
        return [None] if row.body.get("content_sid") else split_text(render(row.body), MAX_CHARS)

    async def accepted_since(self, row: OutboxMessage, address: str, since: datetime, exclude: set[str]) -> str | None:
        """Twilio keeps every message an account sent: the recent ones to ``address`` say whether
        the parts of ``row`` not yet known as sent were accepted after ``since`` (the same text, a
        message id no other row has). Templates are sent again (their text is Twilio's)."""
        assert self._client is not None, "WhatsAppChannel.start() was not called"  # noqa: S101 - a programming error, not input
        bodies = self._bodies(row)
        if bodies[0] is None:
            return None
        try:
            async with asyncio.timeout(self.timeout_s):
                recent = await self._client.messages.list_async(to=address, from_=self.from_number, limit=RECONCILE_LOOKBACK)
        except TwilioRestException as exc:
            raise RetryLater(f"Twilio {exc.status} while checking what was sent: {exc.msg}") from exc
        except (TimeoutError, aiohttp.ClientError, OSError, TwilioException) as exc:
            raise RetryLater(f"Twilio unreachable while checking what was sent: {type(exc).__name__}: {exc}") from exc
        taken = set(exclude)
        sid = None
        # Oldest first: the parts were sent in order.
        for message in sorted(recent, key=lambda m: m.date_created or since):
            if row.parts_sent >= len(bodies):
                break
            created = message.date_created
            if message.sid in taken or created is None or aware(created) < since or message.body != bodies[row.parts_sent]:
                continue
            taken.add(message.sid)
            row.parts_sent += 1
            sid = message.sid
        return sid if row.parts_sent >= len(bodies) else None


def whatsapp_router(
    channel: WhatsAppChannel,
    handle: HandleInbound,
    tell: Tell,
    on_status: OnStatus,
    *,
    public_url: str,
    language: str,
    trust_proxy_headers: bool = False,
    limits: RateLimits | None = None,
    media: MediaStore | None = None,
    media_max_bytes: int = 16_000_000,
) -> APIRouter:
    """Twilio's webhooks: inbound messages and status callbacks, both signature-checked. A customer
    (or client IP) over the rate limit gets 429 and nothing is stored. With ``media``, the files
    customers send are fetched into it before their message is stored."""
    router = APIRouter(tags=["whatsapp"])

    async def verified_form(request: Request) -> dict[str, str]:
        form = await request.form()
        params = {k: str(v) for k, v in form.items()}
        url = public_url_of(request, public_url, trust_proxy_headers=trust_proxy_headers)
        if not channel.validator.validate(url, params, request.headers.get(SIGNATURE_HEADER, "")):
            logger.warning("refused a WhatsApp webhook with a bad signature for %s", url)
            raise HTTPException(403, "invalid X-Twilio-Signature")
        return params

    @router.post("/webhooks/whatsapp")
    async def whatsapp_inbound(request: Request) -> Response:
        """Verify, store and route one customer message (replies go out through the outbox)."""
        form = await verified_form(request)
        inbound = parse_form(form, language=language)
        if limits is not None and not await limits.allow(
            ip=limits.client_ip(request), customer=f"{CHANNEL}:{inbound.customer_id}" if inbound else None
        ):
            raise HTTPException(429, "too many messages; try again later")
        if inbound is not None:
            if media is not None:
                inbound = await fetch_into(
                    media, inbound, lambda a: channel.fetch_media(a, max_bytes=media_max_bytes), max_bytes=media_max_bytes
                )
            refusal = await handle(inbound)
            if refusal and media is not None:
                discard(media, inbound)
            if refusal and refusal[1]:
                await tell(inbound, refusal[1])
        return Response(EMPTY_TWIML, media_type="application/xml")

    @router.post("/webhooks/whatsapp/status", status_code=204)
    async def whatsapp_status(request: Request) -> Response:
        """Twilio reports sent / delivered / read / failed for a message we sent."""
        form = await verified_form(request)
        status = STATUSES.get(form.get("MessageStatus", ""))
        if status is not None and form.get("MessageSid"):
            error = f"Twilio error {form['ErrorCode']}" if form.get("ErrorCode") else None
            await on_status(form["MessageSid"], status.value, error)
        return Response(status_code=204)

    return router
