"""A customer's data as one archive (LGPD's right of access, GDPR's portability): a zip with
``customer.json`` (their channel records, conversations with every message, surveys) and
``files/`` (the files they sent or were sent). Read in one read session; the zip is written in a
worker thread (``write_archive``), never on the event loop."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.media import MediaStore
from connectors.models import ChannelCustomer
from desk.privacy import CustomerRef, media_ids_of
from handoff.models import Conversation, Message
from insights.models import Survey

FORMAT_VERSION = 1


@dataclass
class CustomerData:
    """What an archive holds: ``document`` (becomes ``customer.json``) and the stored files to add."""

    document: dict
    media_ids: list[str]

    @property
    def conversation_ids(self) -> list[str]:
        """The ids of the conversations exported (what the audit entry names)."""
        return [c["id"] for c in self.document["conversations"]]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _message(m: Message) -> dict:
    return {
        "at": _iso(m.created_at),
        "sender": m.sender,
        "text": m.text,
        "channel": m.channel,
        "attachments": [
            {k: a.get(k) for k in ("kind", "mime", "name", "size", "media_id")}
            for a in (m.data or {}).get("attachments") or []
            if isinstance(a, dict)
        ],
    }


def _survey(s: Survey) -> dict:
    return {"asked_at": _iso(s.asked_at), "score": s.score, "answered_at": _iso(s.answered_at), "reason": s.reason}


async def collect_customer_data(session: AsyncSession, refs: Iterable[CustomerRef]) -> CustomerData:
    """Everything stored about these customers (private notes of agents excluded: they are the
    desk's, not the customer's), as JSON-ready values."""
    keys = [(r.channel, r.customer_id) for r in refs]
    records = (
        await session.execute(
            select(ChannelCustomer).where(tuple_(ChannelCustomer.channel, ChannelCustomer.customer_id).in_(keys))
        )
    ).scalars()
    conversations = (
        (
            await session.execute(
                select(Conversation)
                .where(tuple_(Conversation.channel, Conversation.customer_id).in_(keys))
                .order_by(Conversation.created_at)
            )
        )
        .scalars()
        .all()
    )
    ids = [c.id for c in conversations]
    messages: dict[str, list[Message]] = {cid: [] for cid in ids}
    query = select(Message).where(Message.conversation_id.in_(ids), Message.internal.is_(False)).order_by(Message.id)
    for m in (await session.execute(query)).scalars():
        messages[m.conversation_id].append(m)
    surveys = {
        s.conversation_id: s for s in (await session.execute(select(Survey).where(Survey.conversation_id.in_(ids)))).scalars()
    }
    document = {
        "format": FORMAT_VERSION,
        "customers": [
            {"channel": r.channel, "customer_id": r.customer_id, "address": r.address, "name": r.name, "username": r.username,
             "language": r.language, "first_seen_at": _iso(r.first_seen_at), "last_seen_at": _iso(r.last_seen_at),
             "email": r.email, "phone": r.phone, "shop_id": r.external_id, "verified_at": _iso(r.verified_at)}
            for r in records
        ],
        "conversations": [
            {"id": c.id, "channel": c.channel, "customer_id": c.customer_id, "customer_name": c.customer_name,
             "language": c.language, "started_at": _iso(c.created_at), "ended_at": _iso(c.ended_at), "state": c.state.value,
             "messages": [_message(m) for m in messages[c.id]],
             "survey": _survey(surveys[c.id]) if c.id in surveys else None}
            for c in conversations
        ],
    }  # fmt: skip
    media_ids = [mid for ms in messages.values() for m in ms for mid in media_ids_of(m.data)]
    return CustomerData(document, media_ids)


def write_archive(data: CustomerData, media: MediaStore) -> bytes:
    """The zip (blocking: call it in a worker thread). A file already removed is listed in
    ``missing_files.txt`` instead of failing the export."""
    buffer = io.BytesIO()
    missing = []
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("customer.json", json.dumps(data.document, ensure_ascii=False, indent=2))
        for media_id in dict.fromkeys(data.media_ids):
            path: Path = media.path(media_id)
            if path.is_file():
                archive.write(path, f"files/{media_id}")
            else:
                missing.append(media_id)
        if missing:
            archive.writestr("missing_files.txt", "\n".join(missing) + "\n")
    return buffer.getvalue()
