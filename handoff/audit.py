"""The audit log: who did what, when and from where. Every login (and failed login), claim,
transfer, close, export, article publish, user, team and company-words change is appended with ``record_audit``
in the transaction of the change itself; admins read and export it (``/api/admin/audit``).

It is handoff's because the actors are handoff's staff users and every package that changes
something worth auditing already depends on handoff for its logins and role checks. Append-only:
nothing here updates or deletes a row, and no foreign key ties a row to a user, so the log
outlives (and never blocks) any change to the users it names."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from starlette.requests import HTTPConnection

from core.models import utcnow
from core.web import app_state
from handoff.models import Base, User

CLI = "cli"
"""The actor of what the ``balcao`` command (and ``make run``) does: no user is logged in."""
ANONYMOUS = "anonymous"
"""The actor of a failed login: nobody is known yet (the e-mail tried is the target)."""
MAX_USER_AGENT = 255
MAX_TARGET = 254


class AuditAction(str, enum.Enum):
    """What an audit entry records. Stored as its value (text): a new action needs no migration."""

    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    CLAIM = "claim"
    TRANSFER = "transfer"
    CLOSE = "close"
    EXPORT = "export"
    ARTICLE_PUBLISH = "article_publish"
    ARTICLE_UNPUBLISH = "article_unpublish"
    ARTICLE_DELETE = "article_delete"
    ARTICLE_IMPORT = "article_import"
    USER_ADD = "user_add"
    USER_CHANGE = "user_change"
    TEAM_ADD = "team_add"
    TEAM_CHANGE = "team_change"
    TEAM_ARCHIVE = "team_archive"
    TEAM_DELETE = "team_delete"
    WORDS_CHANGE = "words_change"
    CUSTOMER_EXPORT = "customer_export"
    CUSTOMER_ERASE = "customer_erase"
    CUSTOMER_LINK = "customer_link"
    RETENTION_SET = "retention_set"
    RETENTION_RUN = "retention_run"
    CANNED_ADD = "canned_add"
    CANNED_CHANGE = "canned_change"
    CANNED_DELETE = "canned_delete"
    USER_INVITE = "user_invite"
    INTEGRATION_TOKEN_ADD = "integration_token_add"  # noqa: S105 - an action's name, not a password
    INTEGRATION_TOKEN_REVOKE = "integration_token_revoke"  # noqa: S105 - an action's name, not a password
    WEBHOOK_ADD = "webhook_add"
    WEBHOOK_REMOVE = "webhook_remove"
    WEBHOOK_REDELIVER = "webhook_redeliver"


class AuditEntry(Base):
    """One audited action. ``actor`` is a snapshot taken when it happened: the user's e-mail (their
    id and name beside it), ``cli`` or ``anonymous``."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(Integer, default=None)
    actor: Mapped[str] = mapped_column(String(254))
    actor_name: Mapped[str | None] = mapped_column(String(120), default=None)
    action: Mapped[str] = mapped_column(String(40))
    target_type: Mapped[str | None] = mapped_column(String(40), default=None)
    target_id: Mapped[str | None] = mapped_column(String(MAX_TARGET), default=None)
    details: Mapped[dict | None] = mapped_column(JSON, default=None)
    client_ip: Mapped[str | None] = mapped_column(String(100), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(MAX_USER_AGENT), default=None)

    __table_args__ = (
        Index("ix_audit_log_at", "at"),  # a period, newest first
        Index("ix_audit_log_actor_at", "actor", "at"),  # one person's (or the CLI's) actions
    )


@dataclass(frozen=True)
class AuditClient:
    """Where an action came from: the client's address and its user agent (cut short)."""

    ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def of(cls, connection: HTTPConnection) -> AuditClient:
        """The client of a request: its address as the rate limits see it (the peer, or the
        nearest ``X-Forwarded-For`` hop that is not one of ``BALCAO_TRUSTED_PROXIES``)."""
        agent = connection.headers.get("user-agent")
        return cls(app_state(connection).rate_limits.client_ip(connection), agent[:MAX_USER_AGENT] if agent else None)


async def record_audit(
    session: AsyncSession,
    *,
    actor: User | str | None,
    action: AuditAction,
    target_type: str | None = None,
    target_id: str | int | None = None,
    details: dict | None = None,
    client: AuditClient | None = None,
) -> AuditEntry:
    """Append an audit entry in the caller's transaction (flushed, never committed here): it is
    stored if and only if the change it records is. ``actor`` is the staff user who acted, ``CLI``
    for the command line, or ``None`` for nobody yet (a failed login). ``details`` stays small
    (e.g. the teams a chat moved between); never a password."""
    client = client or AuditClient()
    if isinstance(actor, User):
        actor_id, label, name = actor.id, actor.email, actor.name
    else:
        actor_id, label, name = None, actor or ANONYMOUS, None
    entry = AuditEntry(
        at=utcnow(),
        actor_id=actor_id,
        actor=label,
        actor_name=name,
        action=action.value,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id)[:MAX_TARGET],
        details=details or None,
        client_ip=client.ip,
        user_agent=client.user_agent,
    )
    session.add(entry)
    await session.flush()
    return entry


async def audit_request(
    connection: HTTPConnection,
    *,
    actor: User | int | str | None,
    action: AuditAction,
    target_type: str | None = None,
    target_id: str | int | None = None,
    details: dict | None = None,
) -> None:
    """Record an action that changes nothing else (a login, a logout, an export) in a transaction
    of its own, with the request's client. An ``int`` actor is a user id: their snapshot is read
    in that transaction (a user since removed is recorded as ``user:<id>``)."""
    async with app_state(connection).desk.unit_of_work() as session:
        who: User | str | None = (await session.get(User, actor) or f"user:{actor}") if isinstance(actor, int) else actor
        await record_audit(
            session,
            actor=who,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=details,
            client=AuditClient.of(connection),
        )


async def list_audit(
    session: AsyncSession,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    actor: str | None = None,
    action: AuditAction | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Sequence[AuditEntry]:
    """Entries from ``start`` (included) to ``end`` (excluded), of one actor (an e-mail, ``cli``
    or ``anonymous``) and one action when given, newest first; ``limit``/``offset`` page them."""
    query = select(AuditEntry)
    if start is not None:
        query = query.where(AuditEntry.at >= start)
    if end is not None:
        query = query.where(AuditEntry.at < end)
    if actor:
        query = query.where(AuditEntry.actor == actor.strip().lower())  # e-mails are stored lowercased
    if action is not None:
        query = query.where(AuditEntry.action == action.value)
    query = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return (await session.execute(query)).scalars().all()
