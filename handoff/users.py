"""Staff users (agents, editors, supervisors, admins) and their teams. Passwords hashed with argon2."""

from __future__ import annotations

from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff.hours import DEFAULT_HOURS
from handoff.models import Role, Team, TeamMember, User, utcnow

DEFAULT_TEAMS = {"tecnico": "Técnico", "financeiro": "Financeiro", "logistica": "Logística", "geral": "Geral"}
_hasher = PasswordHasher()


class UserExists(ValueError):
    def __init__(self, email: str) -> None:
        super().__init__(f"a user with e-mail {email} already exists")


class InvalidCredentials(Exception):
    def __init__(self) -> None:
        super().__init__("wrong e-mail or password")


async def ensure_default_teams(session: AsyncSession) -> None:
    """Create the four default teams if they are missing (open Monday to Saturday, 8h to 20h)."""
    existing = set((await session.execute(select(Team.id))).scalars())
    for team_id, name in DEFAULT_TEAMS.items():
        if team_id not in existing:
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
) -> User:
    """Create a staff user in the given teams."""
    email = email.strip().lower()
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    if (await session.execute(select(User.id).where(User.email == email))).first():
        raise UserExists(email)
    await ensure_default_teams(session)
    known = set((await session.execute(select(Team.id))).scalars())
    unknown = [t for t in teams if t not in known]
    if unknown:
        raise ValueError(f"unknown team(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    user = User(email=email, name=name, password_hash=_hasher.hash(password), role=role.value, created_at=utcnow())
    session.add(user)
    await session.flush()
    for team_id in teams:
        session.add(TeamMember(user_id=user.id, team_id=team_id))
    await session.flush()
    return user


async def add_first_admin(session: AsyncSession, *, email: str, password: str, name: str = "Admin") -> User | None:
    """On a desk with no staff yet, an admin in every default team; ``None`` when a user exists already."""
    if (await session.execute(select(User.id).limit(1))).first():
        return None
    return await add_user(session, email=email, name=name, password=password, role=Role.ADMIN, teams=list(DEFAULT_TEAMS))


async def authenticate(session: AsyncSession, email: str, password: str) -> User:
    """The active user with these credentials, or ``InvalidCredentials``."""
    user = (await session.execute(select(User).where(User.email == email.strip().lower()))).scalar_one_or_none()
    if user is None or not user.active:
        _hasher.hash(password)  # same work either way, so timing does not tell which e-mails exist
        raise InvalidCredentials()
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, InvalidHashError) as exc:
        raise InvalidCredentials() from exc
    return user


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    """The active user with this id."""
    user = await session.get(User, user_id)
    return user if user and user.active else None


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
