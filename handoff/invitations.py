"""Invitation links: instead of a one-time password an admin reads out, a link the new (or reset)
person opens to choose their own password and be logged in. One use; it expires after the desk's
``invitation_hours``; only the SHA-256 of its token is stored (the token has 256 random bits, so a
fast hash is enough and nothing slow runs in the transaction). A newer link replaces the older ones."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import aware, utcnow
from handoff.errors import Refusal
from handoff.models import Invitation, User
from handoff.users import PasswordHash, UnknownUser, change_password

MAX_TOKEN = 100  # longer than any token this makes: a longer one is refused before any query


class InvitationRefused(Refusal):
    """A link that cannot be used (unknown, used already, expired, or its person deactivated)."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def new_invitation(session: AsyncSession, user_id: int, *, hours: int) -> str:
    """A new link's token for the user (returned once: only its hash is stored), valid for
    ``hours``; the user's older links stop working."""
    user = await session.get(User, user_id)
    if user is None:
        raise UnknownUser(user_id)
    if not user.active:
        raise InvitationRefused("this person is deactivated: reactivate them first", key="invitation_inactive")
    now = utcnow()
    await session.execute(
        update(Invitation).where(Invitation.user_id == user_id, Invitation.used_at.is_(None)).values(used_at=now)
    )
    token = secrets.token_urlsafe(32)
    session.add(Invitation(user_id=user_id, token_hash=_digest(token), created_at=now, expires_at=now + timedelta(hours=hours)))
    await session.flush()
    return token


async def invited_user(session: AsyncSession, token: str) -> User:
    """The person a link invites, or ``InvitationRefused`` saying why it cannot be used."""
    invitation = None
    if 0 < len(token) <= MAX_TOKEN:
        invitation = (
            await session.execute(select(Invitation).where(Invitation.token_hash == _digest(token)))
        ).scalar_one_or_none()
    if invitation is None:
        raise InvitationRefused("this invitation link is not known: ask an admin for a new one", key="invitation_unknown")
    if invitation.used_at is not None:
        raise InvitationRefused(
            "this invitation link was used already: log in, or ask an admin for a new one", key="invitation_used"
        )
    if aware(invitation.expires_at) <= utcnow():
        raise InvitationRefused("this invitation link has expired: ask an admin for a new one", key="invitation_expired")
    user = await session.get(User, invitation.user_id)
    if user is None or not user.active:
        raise InvitationRefused("this person is deactivated: ask an admin", key="invitation_inactive")
    return user


async def accept_invitation(session: AsyncSession, token: str, new: PasswordHash) -> User:
    """The invited person's own password set through the link, which is then used up (a second
    use at the same moment is refused: compare-and-set on ``used_at``). Returns the user, whose
    new ``session_epoch`` the caller logs them in with."""
    user = await invited_user(session, token)
    marked = await session.execute(
        update(Invitation)
        .where(Invitation.token_hash == _digest(token), Invitation.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if marked.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE's result has a rowcount
        raise InvitationRefused(
            "this invitation link was used already: log in, or ask an admin for a new one", key="invitation_used"
        )
    return await change_password(session, user.id, new)
