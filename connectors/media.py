"""Files agents send to customers and files customers send on Telegram or WhatsApp (images, PDFs,
voice notes): checked by their first bytes, stored under a random id, and served to the customer's
platform (Twilio fetches WhatsApp media by URL), page or the console through a signed URL."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from core.security import timestamp_signer

DEFAULT_LINK_MAX_AGE_S = 7 * 24 * 3600  # Telegram and Twilio fetch a file seconds after it is sent
# The types a stored file may have, each with the first bytes every such file starts with (WebP:
# a RIFF container whose form type, at byte 8, is WEBP). Nothing else is stored: no HTML, no SVG
# (a script inside), no executables.
ALLOWED_TYPES: dict[str, tuple[tuple[int, bytes], ...]] = {
    "image/jpeg": ((0, b"\xff\xd8\xff"),),
    "image/png": ((0, b"\x89PNG\r\n\x1a\n"),),
    "image/webp": ((0, b"RIFF"), (8, b"WEBP")),
    "application/pdf": ((0, b"%PDF-"),),
    "audio/ogg": ((0, b"OggS"),),  # Telegram's and WhatsApp's voice notes (Opus in Ogg)
}


# What agents may send: the types every channel shows to the customer (Telegram as a photo or a
# document, WhatsApp by link, the widget inline).
SENDABLE_TYPES = frozenset({"image/jpeg", "image/png", "application/pdf"})


def sniff(content: bytes) -> str | None:
    """The allowed type ``content`` is, by its first bytes; ``None`` when it is none of them."""
    for mime, marks in ALLOWED_TYPES.items():
        if all(content[at : at + len(mark)] == mark for at, mark in marks):
            return mime
    return None


class MediaRefused(Exception):
    """A file that is not accepted; ``status`` is the HTTP status to answer with."""

    status = 400


class MediaTooLarge(MediaRefused):
    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than {limit // 1_000_000} MB; send a smaller one")


class MediaTypeNotAllowed(MediaRefused):
    status = 415

    def __init__(self, mime: str | None) -> None:
        super().__init__(f"files of type {mime or 'unknown'} cannot be sent; send a JPEG, PNG or PDF")


class InvalidMediaToken(Exception):
    """A file link that does not verify; ``status`` is the HTTP status to answer with."""

    status = 403

    def __init__(self, message: str = "this file link is not valid") -> None:
        super().__init__(message)


class ExpiredMediaToken(InvalidMediaToken):
    """A genuine file link older than its lifetime."""

    status = 410

    def __init__(self) -> None:
        super().__init__("this file link has expired: please ask us to send the file again")


@dataclass(frozen=True)
class StoredMedia:
    """A stored file and what a message says about it (``as_attachment``)."""

    id: str
    mime: str
    name: str
    size: int
    url: str

    def as_attachment(self) -> dict:
        """The entry of the message's ``data.attachments``; ``ref`` is the signed URL."""
        kind = "image" if self.mime.startswith("image/") else "audio" if self.mime.startswith("audio/") else "document"
        return {"kind": kind, "ref": self.url, "mime": self.mime, "name": self.name, "size": self.size, "media_id": self.id}


def check_media(content: bytes, mime: str | None, *, max_bytes: int) -> str:
    """The file's type when an agent may send it: at most ``max_bytes``, one of ``SENDABLE_TYPES``
    whose first bytes agree with the declared type. Raises ``MediaTooLarge`` or ``MediaTypeNotAllowed``."""
    if len(content) > max_bytes:
        raise MediaTooLarge(max_bytes)
    mime = (mime or "").split(";")[0].strip().lower()
    if mime not in SENDABLE_TYPES or sniff(content) != mime:
        raise MediaTypeNotAllowed(mime)
    return mime


def safe_name(name: str | None, mime: str) -> str:
    """A file name without directories or control characters, for captions and downloads."""
    base = Path(name or "").name
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '\\/"')[:100].strip()
    return base or ("file.pdf" if mime == "application/pdf" else mime.split("/")[0] + "." + mime.split("/")[1])


class MediaStore:
    """Files under ``directory``, each named by a random id; links signed with the media secret,
    valid for ``max_age_s``."""

    def __init__(
        self,
        directory: Path,
        secret: str,
        *,
        public_url: str,
        max_age_s: int = DEFAULT_LINK_MAX_AGE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.public_url = public_url.rstrip("/")
        self.max_age_s = max_age_s
        self._serializer = URLSafeTimedSerializer(secret, salt="balcao-media", signer=timestamp_signer(clock))

    def save(self, content: bytes, *, mime: str, name: str) -> StoredMedia:
        """Write the (already checked) file; returns it with its signed URL."""
        self.directory.mkdir(parents=True, exist_ok=True)
        media_id = secrets.token_urlsafe(16)
        (self.directory / media_id).write_bytes(content)
        return StoredMedia(media_id, mime, name, len(content), self.link(media_id, mime=mime, name=name))

    def link(self, media_id: str, *, mime: str, name: str) -> str:
        """A signed URL of the stored file, valid for ``max_age_s`` from now (a message shown again
        later gets a fresh one: the link stored with it expires)."""
        token = self._serializer.dumps({"m": media_id, "t": mime, "n": name})
        return f"{self.public_url}/media/{token}"

    def fresh_attachments(self, attachments: list[dict] | None) -> list[dict]:
        """A stored message's ``data.attachments`` with each stored file's link signed anew."""
        return [
            {**a, "ref": self.link(a["media_id"], mime=str(a.get("mime")), name=str(a.get("name")))}
            if isinstance(a.get("media_id"), str)
            else a
            for a in attachments or []
            if isinstance(a, dict)
        ]

    def discard(self, media_id: str) -> None:
        """Remove a file whose message was not stored."""
        (self.directory / media_id).unlink(missing_ok=True)

    def path(self, media_id: str) -> Path:
        return self.directory / Path(media_id).name

    def read(self, media_id: str) -> bytes:
        return self.path(media_id).read_bytes()

    def verify(self, token: str) -> tuple[Path, str, str]:
        """The file, its type and name a signed token points at; ``InvalidMediaToken`` if forged,
        ``ExpiredMediaToken`` if older than ``max_age_s``."""
        try:
            data = self._serializer.loads(token, max_age=self.max_age_s)
        except SignatureExpired as exc:
            raise ExpiredMediaToken() from exc
        except BadSignature as exc:
            raise InvalidMediaToken() from exc
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("m", "t", "n")):
            raise InvalidMediaToken()
        return self.path(data["m"]), data["t"], data["n"]


def media_router(store: MediaStore) -> APIRouter:
    """``GET /media/{token}``: the file behind a signed link (403 when the token was forged, 410
    when it expired)."""
    router = APIRouter(tags=["media"])

    @router.get("/media/{token}", include_in_schema=False)
    async def media_file(token: str) -> FileResponse:
        try:
            path, mime, name = store.verify(token)
        except InvalidMediaToken as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        if not path.is_file():
            raise HTTPException(404, "this file is no longer available")
        return FileResponse(
            path,
            media_type=mime,
            filename=name,
            content_disposition_type="inline",
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"},
        )

    return router
