"""Telegram (python-telegram-bot 22): a webhook behind the hub (the secret token is checked on every
request) or long polling for development; inline keyboards for buttons; replies through the outbox.

Updates go through ``Application.process_update``. Its handlers' exceptions go to error handlers
rather than to the caller, so ours remembers which update failed and the webhook answers 500: a
message we could not store is then delivered again by Telegram instead of being lost."""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message, Update
from telegram.constants import ChatAction, MessageLimit, ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from connectors.base import (
    Attachment,
    InboundMessage,
    OutboxChannel,
    RetryLater,
    SendFailed,
    Unreachable,
    language_of,
    split_text,
)
from connectors.inbound_media import TOO_LARGE, FetchRefused, discard, fetch_into, location
from connectors.media import MediaStore
from connectors.models import OutboxMessage
from connectors.ratelimit import RateLimits
from core.events import Event
from core.security import same_secret

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - the header's name, not a secret
MAX_UPDATE_BYTES = 1_000_000
ALLOWED_UPDATES = ["message", "callback_query"]
COMMANDS = {"start": "greet", "help": "greet"}  # Telegram's commands → the assistant's intents
_CALLBACK = re.compile(r"^m(\d+):(\d+)$")
_BOLD = re.compile(r"\*\*(.+?)\*\*", re.S)

HandleInbound = Callable[[InboundMessage], Awaitable[tuple[str, str] | None]]
Tell = Callable[[InboundMessage, str], Awaitable[None]]


def build_application(token: str, *, api_url: str, polling: bool = False, timeout_s: float = 20.0) -> Application:
    """The library's Application, its Bot pointed at ``api_url`` (a fake server in tests). A call
    Telegram has not answered in ``timeout_s`` is given up and tried again later; the Bot API
    cannot say whether it took the message meanwhile, so a wait longer than the library's 5 s
    sends fewer messages twice when Telegram is slow."""
    builder = ApplicationBuilder().token(token).base_url(api_url).read_timeout(timeout_s).write_timeout(timeout_s)
    if api_url.endswith("/bot"):  # files are downloaded from <root>/file/bot<token>/<path>
        builder = builder.base_file_url(api_url.removesuffix("/bot") + "/file/bot")
    if not polling:
        builder = builder.updater(None)
    return builder.build()


def to_html(text: str) -> str:
    """Telegram's HTML formatting of the bot's text: escaped, with **bold** as <b>."""
    return _BOLD.sub(r"<b>\1</b>", html.escape(text, quote=False))


def keyboard(buttons: list[dict], message_id: int) -> InlineKeyboardMarkup:
    """Buttons as an inline keyboard. Callback data is limited to 64 bytes, so it names the
    offering message and the button's position; the hub maps it back to the payload."""
    keys = [InlineKeyboardButton(str(b["title"])[:64], callback_data=f"m{message_id}:{i}") for i, b in enumerate(buttons)]
    scores = [k for k, b in zip(keys, buttons) if str(b["title"]).strip().isdigit()]
    others = [[k] for k, b in zip(keys, buttons) if not str(b["title"]).strip().isdigit()]
    # The 0–10 survey: its numbers in rows of six, then its "skip" on a row of its own.
    return InlineKeyboardMarkup([scores[i : i + 6] for i in range(0, len(scores), 6)] + others)


def parse_update(update: Update, *, default_language: str) -> InboundMessage | None:
    """The customer's message in a Telegram update, or ``None`` for updates that carry none
    (edits, group chats, service messages)."""
    query = update.callback_query
    message = query.message if query else update.message
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None or chat.type != "private" or message is None or user.is_bot:
        return None
    common: dict[str, Any] = dict(
        channel=CHANNEL,
        customer_id=f"tg-{user.id}",
        language=language_of(user.language_code, default_language),
        channel_message_id=str(update.update_id),
        customer_name=user.full_name[:120] or None,
        username=user.username,
        address=str(chat.id),
    )
    if query is not None:
        match = _CALLBACK.match(query.data or "")
        if not match:
            return None
        offered_by, index = int(match.group(1)), int(match.group(2))
        title = str(index + 1)
        markup = getattr(message, "reply_markup", None)
        keys = [k for row in (markup.inline_keyboard if markup else ()) for k in row]
        if index < len(keys):
            title = keys[index].text
        return InboundMessage(text=title, option=index + 1, option_of=offered_by, **common)
    if not isinstance(message, Message):  # only a button's message can be inaccessible, and buttons returned above
        return None
    text = message.text or message.caption or ""
    if message.text and message.text.startswith("/"):
        command = message.text[1:].split(maxsplit=1)[0].split("@")[0].lower() if len(message.text) > 1 else ""
        if command in COMMANDS:
            return InboundMessage(text=message.text, intent=COMMANDS[command], **common)
    attachments: list[Attachment] = []
    if message.photo:
        attachments.append(Attachment("photo", message.photo[-1].file_id, "image/jpeg"))
    if message.document:
        attachments.append(
            Attachment("document", message.document.file_id, message.document.mime_type, message.document.file_name)
        )
    if message.voice:
        attachments.append(Attachment("voice", message.voice.file_id, message.voice.mime_type))
    if message.audio:
        attachments.append(Attachment("audio", message.audio.file_id, message.audio.mime_type, message.audio.file_name))
    if message.video:
        attachments.append(Attachment("video", message.video.file_id, message.video.mime_type))
    if message.sticker:
        attachments.append(Attachment("sticker", message.sticker.file_id, None, message.sticker.emoji))
    if message.location:
        attachments.append(location(message.location.latitude, message.location.longitude))
    if not text and attachments:
        a = attachments[0]
        text = f"[{a.kind}{': ' + a.name if a.name else ''}]"
    if not text and not attachments:
        return None  # a contact, a poll: nothing we can show yet
    return InboundMessage(text=text, attachments=tuple(attachments), **common)


class TelegramChannel(OutboxChannel):
    """Receives updates (webhook or polling) and sends the outbox's rows with the Bot API."""

    name = CHANNEL
    max_chars = MessageLimit.MAX_TEXT_LENGTH

    def __init__(
        self,
        application: Application,
        handle: HandleInbound,
        tell: Tell,
        *,
        default_language: str,
        media: MediaStore | None = None,
        media_max_bytes: int = 16_000_000,
    ) -> None:
        super().__init__()
        self.application = application
        self.media = media
        self.media_max_bytes = media_max_bytes
        self.handle = handle
        self.tell = tell
        self.default_language = default_language
        self._failed: set[int] = set()
        self._typing_tasks: set[asyncio.Task] = set()
        application.add_handler(TypeHandler(Update, self._on_update))
        application.add_error_handler(self._on_error)

    @property
    def bot(self) -> Bot:
        """The Bot API client of the application."""
        return self.application.bot

    async def start(self, *, polling: bool = False) -> None:
        """Initialise the library (it asks getMe); in polling mode, start fetching updates."""
        await self.application.initialize()
        if polling:
            await self.application.start()
            if self.application.updater is None:
                raise RuntimeError("polling needs the Telegram application's updater")
            await self.application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)

    async def stop(self) -> None:
        if self.application.updater is not None and self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    async def deliver(self, event: Event) -> None:
        """A typing indicator goes straight to the Bot API (``sendChatAction``, best effort, in the
        background: it is never stored); everything else was written to the outbox."""
        if event.type == "typing":  # handoff.events.Typing: someone other than the customer types
            task = asyncio.create_task(self._typing(event.customer_id))
            self._typing_tasks.add(task)
            task.add_done_callback(self._typing_tasks.discard)
            return
        await super().deliver(event)

    async def _typing(self, customer_id: str) -> None:
        # A private chat's id is its user's (customer_id is "tg-<user id>", see parse_update).
        try:
            await self.bot.send_chat_action(chat_id=int(customer_id.removeprefix("tg-")), action=ChatAction.TYPING)
        except (TelegramError, ValueError) as exc:
            logger.info("Telegram: typing not shown to %s: %s", customer_id, exc)

    async def process(self, update: Update) -> bool:
        """Handle one update; ``False`` when it could not be stored (the webhook answers 500)."""
        self._failed.discard(update.update_id)
        await self.application.process_update(update)
        if update.update_id in self._failed:
            self._failed.discard(update.update_id)
            return False
        return True

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query is not None:
            try:  # stop the client's spinner; the tap itself is handled below either way
                await update.callback_query.answer()
            except TelegramError as exc:
                logger.info("answering callback query %s failed: %s", update.callback_query.id, exc)
        inbound = parse_update(update, default_language=self.default_language)
        if inbound is None:
            return
        if self.media is not None:  # before the message is stored: fetching is HTTP
            inbound = await fetch_into(self.media, inbound, self._fetch, max_bytes=self.media_max_bytes)
        refusal = await self.handle(inbound)
        if refusal and self.media is not None:
            discard(self.media, inbound)
        if refusal and refusal[1]:
            await self.tell(inbound, refusal[1])

    async def _fetch(self, attachment: Attachment) -> bytes:
        """The file behind a Telegram file id (getFile, then its download URL)."""
        try:
            file = await self.bot.get_file(attachment.ref)
            if file.file_size and file.file_size > self.media_max_bytes:
                raise FetchRefused(TOO_LARGE, f"{file.file_size} bytes")
            return bytes(await file.download_as_bytearray())
        except BadRequest as exc:
            if "too big" in exc.message.lower():  # the Bot API serves files up to 20 MB
                raise FetchRefused(TOO_LARGE, exc.message) from exc
            raise

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        logger.error("telegram update failed: %s", context.error, exc_info=context.error)
        if isinstance(update, Update):
            self._failed.add(update.update_id)

    async def send(self, row: OutboxMessage, address: str) -> str | None:
        """Send the row's text (split at Telegram's 4096 characters) with its buttons on the last
        part, then its files (photos or documents; a short text is the first file's caption)."""
        text = str(row.body.get("text") or "")
        buttons = row.body.get("buttons") or []
        files = row.body.get("attachments") or []
        caption = None
        if files and not buttons and len(text) <= MessageLimit.CAPTION_LENGTH - 100:
            caption, parts = text, []
        else:
            parts = split_text(text, self.max_chars - 200)  # room for the markup added by to_html
        message_id = None
        call: Awaitable[Message]
        for index in range(row.parts_sent, len(parts) + len(files)):
            if index < len(parts):
                last = index == len(parts) - 1
                markup = keyboard(buttons, row.message_id) if last and buttons and row.message_id else None
                call = self.bot.send_message(
                    chat_id=int(address), text=to_html(parts[index]), parse_mode=ParseMode.HTML, reply_markup=markup
                )
            else:
                file = files[index - len(parts)]
                first_caption = to_html(caption) if caption and index == len(parts) else None
                call = self._send_file(int(address), file, first_caption)
            sent = await self._call(call)
            row.parts_sent = index + 1
            message_id = str(sent.message_id)
        return message_id

    def _send_file(self, chat_id: int, file: dict, caption: str | None) -> Awaitable[Message]:
        if self.media is None:
            raise SendFailed("this hub has no media store to read the file from")
        try:
            content = self.media.read(str(file["media_id"]))
        except (OSError, KeyError) as exc:
            raise SendFailed(f"the file {file.get('name')} is no longer stored") from exc
        name = str(file.get("name") or "file")
        extra: dict[str, Any] = {"caption": caption, "parse_mode": ParseMode.HTML} if caption else {}
        if file.get("kind") == "image":
            return self.bot.send_photo(chat_id=chat_id, photo=InputFile(content, filename=name), **extra)
        return self.bot.send_document(chat_id=chat_id, document=InputFile(content, filename=name), **extra)

    @staticmethod
    async def _call(call: Awaitable[Message]) -> Message:
        """Await one Bot API call, its errors as the outbox's."""
        try:
            return await call
        except RetryAfter as exc:
            wait = exc._retry_after  # the timedelta behind the deprecated int property
            raise RetryLater(str(exc), after_s=wait.total_seconds() if isinstance(wait, timedelta) else float(wait)) from exc
        except Forbidden as exc:
            raise Unreachable(f"Telegram: {exc.message}") from exc
        except BadRequest as exc:
            raise SendFailed(f"Telegram refused the message: {exc.message}") from exc
        except InvalidToken as exc:
            raise RetryLater(f"Telegram refused the bot token (check BALCAO_TELEGRAM_BOT_TOKEN): {exc.message}") from exc
        except TelegramError as exc:  # NetworkError, TimedOut, 5xx
            raise RetryLater(f"Telegram: {exc.message}") from exc


def telegram_router(channel: TelegramChannel, secret_token: str, *, limits: RateLimits | None = None) -> APIRouter:
    """The webhook Telegram calls. A wrong or missing secret token is refused before anything is
    read; a customer (or client IP) over the rate limit gets 429 and nothing is stored."""
    router = APIRouter(tags=["telegram"])

    @router.post("/webhooks/telegram")
    async def telegram_webhook(request: Request) -> dict:
        """Verify, store and answer one update; 500 (Telegram retries) if it could not be stored."""
        given = request.headers.get(SECRET_HEADER, "")
        if not secret_token or not same_secret(given, secret_token):
            raise HTTPException(403, "wrong or missing secret token")
        raw = await request.body()
        if len(raw) > MAX_UPDATE_BYTES:
            raise HTTPException(413, "update too large")
        try:
            data = json.loads(raw)
            update = Update.de_json(data, channel.bot)
        except (ValueError, TypeError, KeyError) as exc:
            raise HTTPException(400, f"not a Telegram update: {exc}") from exc
        if update is None:
            raise HTTPException(400, "not a Telegram update")
        if limits is not None:
            user = update.effective_user
            if not await limits.allow(ip=limits.client_ip(request), customer=f"telegram:tg-{user.id}" if user else None):
                raise HTTPException(429, "too many messages; try again later")
        if not await channel.process(update):
            raise HTTPException(500, "the update could not be stored; Telegram will send it again")
        return {"ok": True}

    return router
