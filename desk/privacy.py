"""A customer's personal data (LGPD / GDPR): finding it, erasing it on request, and the retention
policy that anonymises old conversations on its own.

It lives in ``desk`` because a customer's data spans three packages — handoff's conversations and
messages, connectors' customer records and outbox, insights' surveys — and only ``desk`` may import
them all. Erasing *anonymises*: a conversation keeps its rows, counts, times, states and scores (so
the dashboard's numbers do not move and ``balcao insights rebuild`` gives the same summaries), and
loses every text, name, number and file. Its customer id becomes a random ``erased:`` pseudonym,
shared by the customer's conversations, so "came back within N days" still adds up.

Every function here changes rows in the caller's transaction and returns the stored files to
remove; the caller removes them after the commit, off the event loop (``remove_files``)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.customers import normal_phone
from connectors.media import MediaStore
from connectors.models import ChannelCustomer, Delivery, OutboxMessage
from core.models import utcnow
from handoff.audit import AuditAction, AuditClient, AuditEntry, record_audit
from handoff.models import Conversation, Message, User
from insights.models import ConversationSummary, FollowUp, Survey
from integrations.webhooks import forget_conversations
from kb_index.models import UnansweredQuestion

logger = logging.getLogger(__name__)

PSEUDONYM_PREFIX = "erased:"
MAX_RETENTION_DAYS = 36_500


class UnknownCustomer(LookupError):
    """No conversation or customer record matches what the admin searched for."""

    def __init__(self, query: str) -> None:
        super().__init__(
            f"no customer or conversation matches {query[:80]!r}: search by a conversation id, a phone number "
            "(+5511987654321), a Telegram id (tg-12345 or @username), an e-mail or the widget's customer id"
        )


class InvalidRetention(ValueError):
    """A retention period that cannot be a number of days."""

    def __init__(self) -> None:
        super().__init__(
            f"the retention period is a whole number of days from 1 to {MAX_RETENTION_DAYS}, or none to keep everything"
        )


@dataclass(frozen=True)
class CustomerRef:
    """One customer as one channel knows them."""

    channel: str
    customer_id: str


@dataclass
class Anonymised:
    """What one erasure or retention batch changed, and the stored files to remove after commit."""

    conversations: list[str] = field(default_factory=list)
    messages: int = 0
    media_ids: list[str] = field(default_factory=list)
    last_started_at: datetime | None = None  # of a retention batch: where the next one starts

    def counts(self) -> dict:
        """The audit entry's details: counts and conversation ids, never what identifies the customer."""
        return {"conversations": len(self.conversations), "messages": self.messages, "files": len(self.media_ids)}


async def find_customer(session: AsyncSession, query: str) -> list[CustomerRef]:
    """The customers ``query`` names: a conversation id, a customer id on any channel, a phone
    number (WhatsApp's ``wa-+55…`` or its address, or the phone the shop's site verified), a
    Telegram id (``tg-123``, ``123`` or ``@username``), an e-mail or the shop's own id of a
    widget customer — and every record linked with them as one person (their other channels).
    Raises ``UnknownCustomer`` when nothing matches."""
    q = query.strip()
    if not q or len(q) > 120:
        raise UnknownCustomer(q)
    ids = {q, f"tg-{q}", f"wa-{q}", f"wa-{q.removeprefix('whatsapp:')}"}
    found = {
        CustomerRef(channel, cid)
        for channel, cid in (
            await session.execute(
                select(Conversation.channel, Conversation.customer_id).where(
                    or_(Conversation.id == q, Conversation.customer_id.in_(ids))
                )
            )
        ).all()
    }
    phone = normal_phone(q) or q
    records = select(ChannelCustomer.channel, ChannelCustomer.customer_id).where(
        or_(
            ChannelCustomer.customer_id.in_(ids),
            ChannelCustomer.address.in_({q, f"whatsapp:{q}", f"whatsapp:{phone}"}),
            ChannelCustomer.username == q.removeprefix("@"),
            ChannelCustomer.email == q.lower(),
            ChannelCustomer.phone == phone,
            ChannelCustomer.external_id == q,
        )
    )
    found |= {CustomerRef(channel, cid) for channel, cid in (await session.execute(records)).all()}
    found |= await _linked(session, found)
    found = {ref for ref in found if not ref.customer_id.startswith(PSEUDONYM_PREFIX)}
    if not found:
        raise UnknownCustomer(q)
    return sorted(found, key=lambda ref: (ref.channel, ref.customer_id))


async def _linked(session: AsyncSession, refs: set[CustomerRef]) -> set[CustomerRef]:
    """The records linked as one person with any of ``refs`` (an agent linked their channels)."""
    if not refs:
        return set()
    keys = [(r.channel, r.customer_id) for r in refs]
    people = select(ChannelCustomer.person_id).where(
        tuple_(ChannelCustomer.channel, ChannelCustomer.customer_id).in_(keys), ChannelCustomer.person_id.is_not(None)
    )
    linked = select(ChannelCustomer.channel, ChannelCustomer.customer_id).where(ChannelCustomer.person_id.in_(people))
    return {CustomerRef(channel, cid) for channel, cid in (await session.execute(linked)).all()}


def media_ids_of(data: dict | None) -> list[str]:
    """The ids of the stored files a message's ``data.attachments`` point at."""
    attachments = (data or {}).get("attachments") if isinstance(data, dict) else None
    return [a["media_id"] for a in attachments or [] if isinstance(a, dict) and isinstance(a.get("media_id"), str)]


def _kept_data(data: dict | None) -> dict | None:
    """What of a message's ``data`` an anonymised message keeps: the knowledge base's decision,
    which the KPIs count (``insights.rebuild`` reads ``data.kb``); nothing the customer sent."""
    if isinstance(data, dict) and isinstance(data.get("kb"), str):
        return {"kb": data["kb"]}
    return None


async def _anonymise(session: AsyncSession, pseudonyms: dict[str, str]) -> Anonymised:
    """Strip the conversations (``pseudonyms``' keys) of every text, name, number and file; keep
    their counts, times and scores. ``pseudonyms`` gives each one its customer's new id."""
    conversation_ids = list(pseudonyms)
    done = Anonymised(conversations=conversation_ids)
    if not conversation_ids:
        return done
    rows = (await session.execute(select(Message.id, Message.data).where(Message.conversation_id.in_(conversation_ids)))).all()
    done.messages = len(rows)
    changed = []
    for message_id, data in rows:
        done.media_ids += media_ids_of(data)
        if data is not None and _kept_data(data) != data:
            changed.append({"id": message_id, "data": _kept_data(data)})
    if changed:
        await session.execute(update(Message), changed)  # by primary key, in one executemany
    await session.execute(
        update(Message)
        .where(Message.conversation_id.in_(conversation_ids))
        .values(text="", buttons=None, channel_message_id=None)
        .execution_options(synchronize_session=False)
    )
    renamed = [{"id": cid, "customer_id": pseudonyms[cid], "customer_name": None} for cid in conversation_ids]
    await session.execute(update(Conversation), renamed)  # by primary key, in one executemany
    for table in (Survey, ConversationSummary):
        await session.execute(update(table).where(table.conversation_id.in_(conversation_ids)).values(reason=None))
    await session.execute(
        update(FollowUp).where(FollowUp.conversation_id.in_(conversation_ids)).values(reason=None, outcome=None)
    )
    await session.execute(delete(UnansweredQuestion).where(UnansweredQuestion.conversation_id.in_(conversation_ids)))
    await session.execute(delete(OutboxMessage).where(OutboxMessage.conversation_id.in_(conversation_ids)))
    await forget_conversations(session, conversation_ids)  # webhook deliveries that named them
    return done


async def erase_customer(
    session: AsyncSession, refs: Iterable[CustomerRef], *, actor: User | str, client: AuditClient | None = None
) -> Anonymised:
    """Erase these customers on request: anonymise every conversation of theirs, forget their
    channel records, unsent messages and unanswered questions, and append the audit entry (which
    names the conversations, never the customer). Returns the files to remove after commit."""
    refs = list(refs)
    names = {ref: PSEUDONYM_PREFIX + secrets.token_hex(8) for ref in refs}
    pseudonyms: dict[str, str] = {}
    for ref in refs:
        query = select(Conversation.id).where(Conversation.channel == ref.channel, Conversation.customer_id == ref.customer_id)
        pseudonyms |= dict.fromkeys((await session.execute(query.order_by(Conversation.created_at))).scalars(), names[ref])
    done = await _anonymise(session, pseudonyms)
    for ref in refs:
        for table in (ChannelCustomer, OutboxMessage, UnansweredQuestion):
            await session.execute(delete(table).where(table.channel == ref.channel, table.customer_id == ref.customer_id))
    await record_audit(
        session,
        actor=actor,
        action=AuditAction.CUSTOMER_ERASE,
        target_type="customer",
        target_id=", ".join(sorted(names.values())),
        details=done.counts() | {"conversation_ids": done.conversations[:50]},
        client=client,
    )
    return done


async def remove_files(media: MediaStore, media_ids: Iterable[str]) -> int:
    """Remove stored files (after the commit that unlinked them), in a worker thread."""

    def remove() -> int:
        count = 0
        for media_id in set(media_ids):
            path = media.path(media_id)
            if path.exists():
                path.unlink(missing_ok=True)
                count += 1
        return count

    return await asyncio.to_thread(remove)


# -- the retention policy ----------------------------------------------------------------------


async def retention_days(session: AsyncSession) -> int | None:
    """The retention policy in force: conversations older than this many days are anonymised;
    ``None`` keeps everything (the default). The policy is the newest ``retention_set`` entry of
    the audit log, so every change of it is on record by construction and every replica reads
    the same one."""
    query = (
        select(AuditEntry.details)
        .where(AuditEntry.action == AuditAction.RETENTION_SET.value)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(1)
    )
    details = (await session.execute(query)).scalar_one_or_none()
    days = (details or {}).get("days")
    return days if isinstance(days, int) else None


async def set_retention(session: AsyncSession, days: int | None, *, actor: User | str, client: AuditClient | None = None) -> None:
    """Set the retention policy (``None``: keep everything). Raises ``InvalidRetention``."""
    if days is not None and (isinstance(days, bool) or not 1 <= days <= MAX_RETENTION_DAYS):
        raise InvalidRetention()
    await record_audit(
        session, actor=actor, action=AuditAction.RETENTION_SET, target_type="retention", details={"days": days}, client=client
    )


async def anonymise_expired(
    session: AsyncSession, *, before: datetime, since: datetime | None = None, limit: int = 500
) -> Anonymised:
    """One batch of the retention pass: anonymise up to ``limit`` conversations started before
    ``before`` and not anonymised yet (run again until it returns none; a second pass over the
    same period changes nothing). A customer's conversations in one batch share a pseudonym.
    ``since`` (the previous batch's ``last_started_at``) starts the search where that batch ended,
    so a pass does not read again the conversations it has anonymised."""
    query = (
        select(Conversation.id, Conversation.channel, Conversation.customer_id)
        .where(Conversation.created_at < before, Conversation.customer_id.not_like(f"{PSEUDONYM_PREFIX}%"))
        .order_by(Conversation.created_at)
        .limit(limit)
    )
    if since is not None:
        query = query.where(Conversation.created_at >= since)
    rows = (await session.execute(query.add_columns(Conversation.created_at))).all()
    names = {CustomerRef(ch, who): PSEUDONYM_PREFIX + secrets.token_hex(8) for _, ch, who, _ in rows}
    done = await _anonymise(session, {cid: names[CustomerRef(ch, who)] for cid, ch, who, _ in rows})
    done.last_started_at = rows[-1][3] if rows else since
    return done


async def forget_expired(session: AsyncSession, *, before: datetime) -> None:
    """The rest of the retention pass: forget the channel records of customers not seen since
    ``before``, the outbox rows sent or given up before it and the unanswered questions asked
    before it."""
    await session.execute(delete(ChannelCustomer).where(ChannelCustomer.last_seen_at < before))
    active = (Delivery.PENDING.value, Delivery.SENDING.value)
    await session.execute(delete(OutboxMessage).where(OutboxMessage.created_at < before, OutboxMessage.status.not_in(active)))
    await session.execute(delete(UnansweredQuestion).where(UnansweredQuestion.at < before))


def retention_cutoff(days: int, *, now: datetime | None = None) -> datetime:
    """The start time before which conversations are anonymised under a ``days`` policy."""
    return (now or utcnow()) - timedelta(days=days)


@dataclass
class RetentionRun:
    """What one retention pass did (``days`` is ``None`` when no policy is set: nothing was done)."""

    days: int | None
    conversations: int = 0
    messages: int = 0
    files: int = 0


async def run_retention(
    unit_of_work: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    media: MediaStore,
    *,
    actor: User | str,
    batch: int = 500,
) -> RetentionRun:
    """Apply the retention policy now: batches of ``anonymise_expired``, one transaction each (a
    pass over a large history never holds one long transaction), each batch's files removed after
    its commit; then ``forget_expired``; one audit entry when anything was anonymised."""
    async with unit_of_work() as session:
        days = await retention_days(session)
    run = RetentionRun(days)
    if days is None:
        return run
    before = retention_cutoff(days)
    async with unit_of_work() as session:
        await forget_expired(session, before=before)
    since = None
    while True:
        async with unit_of_work() as session:
            done = await anonymise_expired(session, before=before, since=since, limit=batch)
        since = done.last_started_at
        run.conversations += len(done.conversations)
        run.messages += done.messages
        run.files += len(done.media_ids)
        await remove_files(media, done.media_ids)
        if len(done.conversations) < batch:
            break
    if run.conversations:
        async with unit_of_work() as session:
            details = {"days": days, "conversations": run.conversations, "messages": run.messages, "files": run.files}
            await record_audit(session, actor=actor, action=AuditAction.RETENTION_RUN, target_type="retention", details=details)
    return run


async def retention_loop(
    unit_of_work: Callable[[], AbstractAsyncContextManager[AsyncSession]], media: MediaStore, *, every_s: float
) -> None:
    """The hub's background job: apply the retention policy every ``every_s`` seconds (a failed
    pass is logged and tried again at the next one)."""
    while True:
        try:
            await run_retention(unit_of_work, media, actor="retention")
        except Exception:  # a background job: log it and try again at the next pass, never die
            logger.exception("the retention pass failed; it runs again in %s s", every_s)
        await asyncio.sleep(every_s)
