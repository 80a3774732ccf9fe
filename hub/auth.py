"""Staff login: argon2-checked passwords, a signed HttpOnly session cookie, CSRF on every change,
and role checks as FastAPI dependencies."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

import handoff
from handoff import Role, User

CSRF_HEADER = "X-CSRF-Token"
STAFF_ROLES = {r.value for r in Role}


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, supplied: str | None) -> None:
    """Refuse a state-changing request whose CSRF token does not match the session's."""
    expected = request.session.get("csrf")
    if not expected or not supplied or not secrets.compare_digest(expected, supplied):
        raise HTTPException(status_code=403, detail="missing or wrong CSRF token; reload the page")


def login_session(request: Request, user: User) -> str:
    """Start a fresh session for ``user``; returns its CSRF token."""
    request.session.clear()
    request.session["uid"] = user.id
    return csrf_token(request)


async def _session(request: Request):  # noqa: ANN202 - an async generator dependency
    # Routes given a DbSession only read (it is never committed): a read session, which on SQLite
    # takes no write lock however long the request runs (a report, an export).
    async with request.app.state.read_sessions() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(_session)]


async def current_user(request: Request) -> User:
    """The logged-in staff user, or 401. Read in a session of its own that is closed at once, so
    no transaction stays open while the route runs its own unit of work."""
    user_id = request.session.get("uid")
    user = None
    if user_id:
        async with request.app.state.read_sessions() as session:
            user = await handoff.get_user(session, int(user_id))
    if user is None:
        raise HTTPException(status_code=401, detail="log in first")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


async def csrf_protected(request: Request) -> None:
    """Dependency for state-changing API routes: the X-CSRF-Token header must match."""
    check_csrf(request, request.headers.get(CSRF_HEADER))


def require_roles(*roles: Role):  # noqa: ANN201 - returns a dependency
    """Dependency: the user must have one of ``roles``."""
    allowed = {r.value for r in roles}

    async def _check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise HTTPException(status_code=403, detail=f"this needs the role {' or '.join(sorted(allowed))}")
        return user

    return _check


Agent = Annotated[User, Depends(require_roles(Role.AGENT, Role.SUPERVISOR, Role.ADMIN))]
Supervisor = Annotated[User, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))]
