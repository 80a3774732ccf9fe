"""The HTTP API's tokens: made with a name and scopes, shown once, kept as a keyed hash, revocable.

A token is 32 random bytes: no one guesses it, so a fast keyed hash (HMAC-SHA256 with the hub's
``secret_key``) is the right way to keep it — a slow password hash would only make every API
request slow. Looking a token up is one indexed read of its hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import aware, utcnow
from integrations.models import IntegrationToken

PREFIX = "blc_"
SCOPES = ("conversations:read", "messages:read", "customers:read", "surveys:read")
"""What a token may be given: each opens the routes that read one kind of record."""
LAST_USED_EVERY = timedelta(minutes=1)  # ``last_used_at`` is written at most this often per token
MAX_NAME = 120


class TokenRefused(ValueError):
    """A token cannot be made as asked (no name, an unknown scope): nothing was written."""

    def __init__(self, message: str, *, key: str, **params: object) -> None:
        super().__init__(message)
        self.key = key
        self.params = params


class UnknownToken(LookupError):
    """No token has this id."""

    def __init__(self, token_id: int) -> None:
        super().__init__(f"there is no integration token {token_id}")
        self.key = "unknown_token"
        self.params: dict[str, object] = {}


def token_hash(token: str, key: bytes) -> str:
    """The keyed hash a token is kept and looked up by."""
    return hmac.new(key, token.encode("utf-8", "replace"), hashlib.sha256).hexdigest()


def check_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes, in their canonical order; ``TokenRefused`` for none or an unknown one."""
    asked = set(scopes)
    unknown = sorted(asked - set(SCOPES))
    if unknown:
        raise TokenRefused(f"unknown scope {unknown[0]}: use {', '.join(SCOPES)}", key="bad_scope", scope=unknown[0])
    if not asked:
        raise TokenRefused("give the token at least one scope", key="no_scope")
    return [s for s in SCOPES if s in asked]


async def create_token(
    session: AsyncSession, *, name: str, scopes: Iterable[str], key: bytes, created_by: str | None = None
) -> tuple[IntegrationToken, str]:
    """Make a token: its row and the token itself (shown to the admin once, never stored)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise TokenRefused(f"give the token a name of 1 to {MAX_NAME} characters", key="bad_token_name")
    checked = check_scopes(scopes)
    token = PREFIX + secrets.token_urlsafe(32)
    row = IntegrationToken(
        name=name,
        token_hash=token_hash(token, key),
        hint=token[: len(PREFIX) + 6],
        scopes=checked,
        created_by=created_by,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row, token


async def revoke_token(session: AsyncSession, token_id: int) -> IntegrationToken:
    """Refuse the token from now on (for good); revoking it twice changes nothing."""
    row = await session.get(IntegrationToken, token_id)
    if row is None:
        raise UnknownToken(token_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.flush()
    return row


async def list_tokens(session: AsyncSession) -> Sequence[IntegrationToken]:
    """Every token, newest first (revoked ones too: the page says when)."""
    return (await session.execute(select(IntegrationToken).order_by(IntegrationToken.id.desc()))).scalars().all()


async def find_token(session: AsyncSession, token: str, key: bytes) -> IntegrationToken | None:
    """The live (not revoked) token ``token`` is, or ``None``."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = (
        await session.execute(select(IntegrationToken).where(IntegrationToken.token_hash == token_hash(token, key)))
    ).scalar_one_or_none()
    return row if row is not None and row.revoked_at is None else None


def needs_last_used(row: IntegrationToken) -> bool:
    """Whether this use should be written (at most once a minute per token: reads stay reads)."""
    return row.last_used_at is None or utcnow() - aware(row.last_used_at) >= LAST_USED_EVERY


async def note_used(session: AsyncSession, token_id: int) -> None:
    """Record that the token was just used."""
    await session.execute(update(IntegrationToken).where(IntegrationToken.id == token_id).values(last_used_at=utcnow()))
