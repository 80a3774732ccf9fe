"""Staff users (agents, editors, supervisors, admins) and their teams; their passwords and sessions.

Passwords are hashed with argon2id at OWASP's recommended cost (19 MiB, two passes, one lane: about
20 ms of one core, on purpose): every hash and check runs in a small thread pool of its own
(``hash_password``, ``verify_password``), never on the event loop nor inside a database transaction,
and at the lowest CPU priority, so a flood of wrong logins cannot slow the customers' turns. A state change of a user is one function here
(``change_password``, ``reset_password``, ``log_out``, ``deactivate_user``, ``set_user_role``); each
that must end the user's sessions adds one to ``User.session_epoch``, which every session cookie
carries (see ``handoff.auth``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from typing import NewType

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.events import queue_event
from handoff.errors import Refusal
from handoff.events import SessionsEnded
from handoff.hours import DEFAULT_HOURS
from handoff.models import Role, Team, TeamMember, User, utcnow

DEFAULT_TEAMS = {"tecnico": "Técnico", "financeiro": "Financeiro", "logistica": "Logística", "geral": "Geral"}
MIN_PASSWORD_CHARS = 8
MAX_NAME_CHARS = 120  # users.name
MAX_PASSWORD_CHARS = 200  # what the login form accepts
# OWASP's Password Storage Cheat Sheet, argon2id's first configuration: m=19 MiB, t=2, p=1. argon2's
# RFC 9106 default (64 MiB, three passes, four lanes) costs 7-8x the CPU, which 20 wrong logins a
# second turn into two busy cores on a small machine. Hashes made with other parameters still verify.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
PASSWORD_WORK_NICENESS = 19  # the lowest priority: argon2 runs only on CPU the desk leaves idle


def _lower_this_threads_priority() -> None:
    """Run this (argon2) thread at the lowest CPU priority. On Linux the nice value is per thread
    (setpriority(2) on the thread id); elsewhere the call fails and the thread keeps its priority."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux, or not allowed: keep the priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PASSWORD_WORK_NICENESS)


# argon2 releases the GIL, so these threads do not slow the event loop; half the cores at most, so a
# flood of logins leaves the desk a core to answer customers with (the rest wait their turn).
_password_work = ThreadPoolExecutor(
    max_workers=max(1, (os.cpu_count() or 2) // 2), thread_name_prefix="argon2", initializer=_lower_this_threads_priority
)

PasswordHash = NewType("PasswordHash", str)
"""An argon2 hash made by ``hash_password`` (a password checked against the rules)."""

ReadSessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


class UserExists(ValueError):
    def __init__(self, email: str) -> None:
        super().__init__(f"a user with e-mail {email} already exists")
        self.key, self.params = "user_exists", {"email": email}


class InvalidName(ValueError):
    """A display name that cannot be shown (empty or too long)."""


class InvalidCredentials(Exception):
    def __init__(self) -> None:
        super().__init__("wrong e-mail or password")


class WeakPassword(ValueError):
    """A new password that breaks the rules; the message says which."""


class UnknownUser(LookupError):
    def __init__(self, who: int | str) -> None:
        super().__init__(f"there is no user {who}")
        self.key, self.params = "unknown_user", {"user": who}


class LastAdmin(ValueError):
    def __init__(self) -> None:
        super().__init__("this is the desk's last active admin: make another user admin first")
        self.key, self.params = "last_admin", dict[str, object]()


async def _in_pool(work: Callable[[], object]) -> object:
    return await asyncio.get_running_loop().run_in_executor(_password_work, work)


def check_new_password(password: str) -> None:
    """Refuse (``WeakPassword``) a password too short or too long to be set."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise WeakPassword(f"a password may have at most {MAX_PASSWORD_CHARS} characters")


async def hash_password(password: str) -> PasswordHash:
    """``password``, checked (``WeakPassword``) and hashed off the event loop."""
    check_new_password(password)
    return PasswordHash(str(await _in_pool(lambda: _hasher.hash(password))))


def new_one_time_password() -> str:
    """A random password to hand to someone once (they must change it at their first login)."""
    return secrets.token_urlsafe(12)


async def verify_password(user: User | None, password: str) -> None:
    """Raise ``InvalidCredentials`` unless ``password`` is ``user``'s (active) password. Checked off
    the event loop; without a user the same work is done, so the time taken does not tell which
    e-mails exist."""

    def check() -> bool:
        if user is None or not user.active:
            _hasher.hash(password)
            return False
        try:
            return bool(_hasher.verify(user.password_hash, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    if not await _in_pool(check):
        raise InvalidCredentials()


async def ensure_default_teams(session: AsyncSession) -> None:
    """Give a desk with no team yet the four default ones (open Monday to Saturday, 8h to 20h).
    Once it has teams they are the admins' (a default team removed stays removed)."""
    if (await session.execute(select(Team.id).limit(1))).first():
        return
    for team_id, name in DEFAULT_TEAMS.items():
        session.add(Team(id=team_id, name=name, hours=DEFAULT_HOURS, holidays=[]))
    await session.flush()


async def add_user(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    password: str,
    role: Role = Role.AGENT,
    teams: Sequence[str] = (),
    one_time: bool = False,
) -> User:
    """Create a staff user in the given teams. ``one_time``: the password was generated and shown to
    someone, so the user must change it at the first login."""
    email, name = email.strip().lower(), " ".join(name.split())
    if not name or len(name) > MAX_NAME_CHARS:
        raise InvalidName(f"a display name has 1 to {MAX_NAME_CHARS} characters")
    password_hash = await hash_password(password)  # before the first query: no transaction waits on it
    if (await session.execute(select(User.id).where(User.email == email))).first():
        raise UserExists(email)
    await ensure_default_teams(session)  # a desk's very first user: the teams they can join
    known = set((await session.execute(select(Team.id).where(Team.archived_at.is_(None)))).scalars())
    unknown = [t for t in teams if t not in known]
    if unknown:
        names = ", ".join(unknown)
        raise Refusal(f"unknown team(s): {names}; known: {', '.join(sorted(known))}", key="unknown_team", team=names)
    user = User(
        email=email,
        name=name,
        password_hash=password_hash,
        role=role.value,
        created_at=utcnow(),
        session_epoch=0,
        must_change_password=one_time,
    )
    session.add(user)
    await session.flush()
    for team_id in teams:
        session.add(TeamMember(user_id=user.id, team_id=team_id))
    await session.flush()
    return user


async def add_first_admin(
    session: AsyncSession, *, email: str, password: str, name: str = "Admin", one_time: bool = False
) -> User | None:
    """On a desk with no staff yet, an admin in every default team; ``None`` when a user exists already."""
    if (await session.execute(select(User.id).limit(1))).first():
        return None
    return await add_user(
        session, email=email, name=name, password=password, role=Role.ADMIN, teams=list(DEFAULT_TEAMS), one_time=one_time
    )


async def authenticate(read_sessions: ReadSessions, email: str, password: str) -> User:
    """The active user with these credentials, or ``InvalidCredentials``. The user is read in a
    read session of its own, closed before the password is checked (off the event loop): no
    transaction stays open for the 0.2 s that takes."""
    async with read_sessions() as session:
        user = await get_user_by_email(session, email)
    await verify_password(user, password)
    if user is None:  # verify_password refused it already; this tells the type checker
        raise InvalidCredentials()
    return user


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    """The active user with this id."""
    user = await session.get(User, user_id)
    return user if user and user.active else None


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    """The user (active or not) who logs in with ``email``."""
    return (await session.execute(select(User).where(User.email == email.strip().lower()))).scalar_one_or_none()


async def _user_for_change(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise UnknownUser(user_id)
    return user


def _end_sessions(session: AsyncSession, user: User) -> None:
    # An SQL expression, so two changes at once both count (the row's value, not the one read).
    user.session_epoch = User.session_epoch + 1
    queue_event(session, SessionsEnded(user_id=user.id))  # and the consoles still open close


async def log_out(session: AsyncSession, user_id: int) -> None:
    """End every session of the user, on every browser and device (each copy of each cookie)."""
    user = await session.get(User, user_id)
    if user is not None:
        _end_sessions(session, user)
        await session.flush()
        await session.refresh(user, ["session_epoch"])


async def change_password(session: AsyncSession, user_id: int, new: PasswordHash) -> User:
    """The user's own change of password (checked against the current one by the caller with
    ``verify_password``): it is no longer one-time, and every other session ends. Returns the
    user, whose new ``session_epoch`` the caller's own session must carry on."""
    user = await _user_for_change(session, user_id)
    user.password_hash = new
    user.must_change_password = False
    _end_sessions(session, user)
    await session.flush()
    await session.refresh(user, ["session_epoch"])
    return user


async def reset_password(session: AsyncSession, user_id: int, new: PasswordHash) -> User:
    """An admin's (or ``balcao user reset-password``'s) reset: ``new`` is a one-time password, to
    be changed at the next login; every session of the user ends."""
    user = await _user_for_change(session, user_id)
    user.password_hash = new
    user.must_change_password = True
    _end_sessions(session, user)
    await session.flush()
    await session.refresh(user, ["session_epoch"])
    return user


async def _other_active_admins(session: AsyncSession, user_id: int) -> int:
    query = select(func.count()).where(User.role == Role.ADMIN.value, User.active.is_(True), User.id != user_id)
    return int((await session.execute(query)).scalar_one())


async def deactivate_user(session: AsyncSession, user_id: int) -> User:
    """The user can no longer log in and their sessions end (an inactive user is never assigned a
    chat, whatever their status). The last active admin cannot be deactivated (``LastAdmin``)."""
    user = await _user_for_change(session, user_id)
    if user.role == Role.ADMIN.value and user.active and not await _other_active_admins(session, user_id):
        raise LastAdmin()
    user.active = False
    _end_sessions(session, user)
    await session.flush()
    await session.refresh(user, ["session_epoch"])
    return user


async def reactivate_user(session: AsyncSession, user_id: int) -> User:
    """A deactivated user may log in again, with the password they had (an admin gives them a new
    one-time password or invitation link when they forgot it); their teams were kept."""
    user = await _user_for_change(session, user_id)
    user.active = True
    await session.flush()
    return user


async def set_user_role(session: AsyncSession, user_id: int, role: Role) -> User:
    """Give the user another role; their sessions end, so every page and API is reopened with the
    new one. The last active admin keeps the role (``LastAdmin``)."""
    user = await _user_for_change(session, user_id)
    if user.role == role.value:
        return user
    if user.role == Role.ADMIN.value and user.active and not await _other_active_admins(session, user_id):
        raise LastAdmin()
    user.role = role.value
    _end_sessions(session, user)
    await session.flush()
    await session.refresh(user, ["session_epoch"])
    return user


async def set_display_name(session: AsyncSession, user_id: int, name: str) -> User:
    """The name customers and colleagues see for the user (their own choice, or an admin's)."""
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME_CHARS:
        raise InvalidName(f"a display name has 1 to {MAX_NAME_CHARS} characters")
    user = await _user_for_change(session, user_id)
    user.name = name
    await session.flush()
    return user


async def list_users(session: AsyncSession) -> Sequence[User]:
    """Every staff user, active or not, by name."""
    return (await session.execute(select(User).order_by(User.name, User.id))).scalars().all()


async def user_team_ids(session: AsyncSession, user: User) -> list[str] | None:
    """The teams whose conversations the user may see; ``None`` means every team (supervisor, admin)."""
    if user.role in (Role.SUPERVISOR.value, Role.ADMIN.value):
        return None
    rows = await session.execute(select(TeamMember.team_id).where(TeamMember.user_id == user.id))
    return list(rows.scalars())


async def team_supervisors(session: AsyncSession, team_id: str | None) -> Sequence[User]:
    """Active supervisors and admins who are members of ``team_id``; when it has none (or for a
    conversation without a team), every active supervisor and admin."""
    staff = select(User).where(User.active.is_(True), User.role.in_((Role.SUPERVISOR.value, Role.ADMIN.value)))
    if team_id is not None:
        members = (
            (await session.execute(staff.join(TeamMember, TeamMember.user_id == User.id).where(TeamMember.team_id == team_id)))
            .scalars()
            .all()
        )
        if members:
            return members
    return (await session.execute(staff.order_by(User.id))).scalars().all()
