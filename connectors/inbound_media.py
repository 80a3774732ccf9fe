"""Files customers send on Telegram or WhatsApp, fetched into the media store before their message
is stored: outside any transaction, as awaited HTTP (the file is written in a thread, never on the
event loop). A file that cannot be fetched (too large, a type we do not keep, a fetch error) leaves
a note in the message for the agents instead; the message itself is always stored."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable

from connectors.base import Attachment, InboundMessage
from connectors.media import MediaStore, safe_name, sniff

logger = logging.getLogger(__name__)

TOO_LARGE, WRONG_TYPE, FETCH_ERROR = "too_large", "type", "fetch_error"
# What the agents read in the conversation, in the conversation's language.
NOTES = {
    "pt-BR": {
        "lead": "📎 um arquivo que o cliente enviou não pôde ser baixado: {reason}",
        TOO_LARGE: "grande demais",
        WRONG_TYPE: "tipo de arquivo não aceito",
        FETCH_ERROR: "erro ao baixar",
    },
    "pt-PT": {
        "lead": "📎 um ficheiro que o cliente enviou não pôde ser obtido: {reason}",
        TOO_LARGE: "demasiado grande",
        WRONG_TYPE: "tipo de ficheiro não aceite",
        FETCH_ERROR: "erro ao obter",
    },
    "en": {
        "lead": "📎 a file the customer sent could not be fetched: {reason}",
        TOO_LARGE: "too large",
        WRONG_TYPE: "type not accepted",
        FETCH_ERROR: "fetch error",
    },
}

Fetch = Callable[[Attachment], Awaitable[bytes]]


class FetchRefused(Exception):
    """A file that was not fetched; ``reason`` is ``TOO_LARGE`` or ``FETCH_ERROR``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def note(reason: str, language: str) -> str:
    """The sentence the agents read for a file that could not be fetched."""
    words = NOTES.get(language, NOTES["pt-BR"])
    return words["lead"].format(reason=words.get(reason, words[FETCH_ERROR]))


def location(latitude: float, longitude: float) -> Attachment:
    """A location the customer shared, kept as its coordinates."""
    return Attachment(
        "location", f"{latitude},{longitude}", stored={"kind": "location", "latitude": latitude, "longitude": longitude}
    )


async def fetch_into(store: MediaStore, inbound: InboundMessage, fetch: Fetch, *, max_bytes: int) -> InboundMessage:
    """``inbound`` with each of its files fetched (``fetch``) and stored, or noted as not fetched."""
    if not inbound.attachments:
        return inbound
    fetched = [await _fetch_one(store, a, fetch, max_bytes=max_bytes, language=inbound.language) for a in inbound.attachments]
    return dataclasses.replace(inbound, attachments=tuple(fetched))


async def _fetch_one(store: MediaStore, attachment: Attachment, fetch: Fetch, *, max_bytes: int, language: str) -> Attachment:
    if attachment.stored is not None:  # a location: nothing to fetch
        return attachment
    try:
        content = await fetch(attachment)
        if len(content) > max_bytes:
            raise FetchRefused(TOO_LARGE)
        mime = sniff(content)  # the bytes decide, not the declared type
        if mime is None:
            raise FetchRefused(WRONG_TYPE, f"declared {attachment.mime}")
    except FetchRefused as exc:
        logger.info("a customer's %s was not fetched: %s", attachment.kind, exc)
        return dataclasses.replace(attachment, stored=_unavailable(attachment, exc.reason, language))
    except Exception as exc:  # whatever the platform or network did, the message is kept
        logger.warning("fetching a customer's %s failed: %r", attachment.kind, exc)
        return dataclasses.replace(attachment, stored=_unavailable(attachment, FETCH_ERROR, language))
    saved = await asyncio.to_thread(store.save, content, mime=mime, name=safe_name(attachment.name, mime))
    return dataclasses.replace(attachment, stored=saved.as_attachment())


def _unavailable(attachment: Attachment, reason: str, language: str) -> dict:
    return {
        "kind": "unavailable",
        "reason": reason,
        "note": note(reason, language),
        "mime": attachment.mime,
        "name": attachment.name,
    }


def discard(store: MediaStore, inbound: InboundMessage) -> None:
    """Remove the files fetched for a message that was not stored (a duplicate, a refusal)."""
    for a in inbound.attachments:
        media_id = (a.stored or {}).get("media_id")
        if isinstance(media_id, str):
            store.discard(media_id)
