"""Staff login: argon2-checked passwords, a signed HttpOnly session cookie, CSRF on every change,
role checks as FastAPI dependencies, and the login pages and API (``auth_router``).

Users and their roles are handoff's, so every package's routes check access with these: API routes
with ``CurrentUser``/``require_roles``, staff pages with ``page_user`` (to the login page and back
when nobody is logged in, 403 for the wrong role)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

import handoff
from core.security import same_secret
from core.web import app_state, page_templates
from handoff import Role, User
from handoff.audit import AuditAction, audit_request

CSRF_HEADER = "X-CSRF-Token"
STAFF_ROLES = {r.value for r in Role}
templates = page_templates(Path(__file__).parent / "templates")


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
    if not expected or not supplied or not same_secret(supplied, expected):
        raise HTTPException(status_code=403, detail="missing or wrong CSRF token; reload the page")


def login_session(request: Request, user: User) -> str:
    """Start a fresh session for ``user``; returns its CSRF token."""
    request.session.clear()
    request.session["uid"] = user.id
    return csrf_token(request)


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    # Routes given a DbSession only read (it is never committed): a read session, which on SQLite
    # takes no write lock however long the request runs (a report, an export).
    async with app_state(request).read_sessions() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(_session)]


async def current_user(request: Request) -> User:
    """The logged-in staff user, or 401. Read in a session of its own that is closed at once, so
    no transaction stays open while the route runs its own unit of work."""
    user_id = request.session.get("uid")
    user = None
    if user_id:
        async with app_state(request).read_sessions() as session:
            user = await handoff.get_user(session, int(user_id))
    if user is None:
        raise HTTPException(status_code=401, detail="log in first")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


async def csrf_protected(request: Request) -> None:
    """Dependency for state-changing API routes: the X-CSRF-Token header must match."""
    check_csrf(request, request.headers.get(CSRF_HEADER))


def require_roles(*roles: Role) -> Callable[[User], Awaitable[User]]:
    """Dependency: the user must have one of ``roles``."""
    allowed = {r.value for r in roles}

    async def _check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise HTTPException(status_code=403, detail=f"this needs the role {' or '.join(sorted(allowed))}")
        return user

    return _check


Agent = Annotated[User, Depends(require_roles(Role.AGENT, Role.SUPERVISOR, Role.ADMIN))]
Supervisor = Annotated[User, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))]


# -- staff pages --------------------------------------------------------------------------------


class LoginRequired(HTTPException):
    """A staff page was asked for with nobody logged in. ``redirect_to_login`` (installed by the
    hub as this exception's handler) answers with the login page, which comes back here after."""

    def __init__(self, path: str) -> None:
        location = f"/login?next={quote(path)}"
        super().__init__(status_code=303, detail="log in first", headers={"Location": location})
        self.location = location


async def redirect_to_login(request: Request, exc: Exception) -> Response:
    """The exception handler of ``LoginRequired``: a plain redirect to the login page."""
    if not isinstance(exc, LoginRequired):  # installed for LoginRequired only
        raise exc
    return RedirectResponse(exc.location, status_code=303)


def page_user(*roles: Role, refusal: str) -> Callable[..., Awaitable[User]]:
    """Dependency of a staff page: the logged-in user, who must have one of ``roles``. Nobody
    logged in → ``LoginRequired`` (to the login page and back); another role → 403 ``refusal``.
    The user is read in the page's own ``DbSession``."""
    allowed = {r.value for r in roles}

    async def _check(request: Request, session: DbSession) -> User:
        user_id = request.session.get("uid")
        user = await handoff.get_user(session, int(user_id)) if user_id else None
        if user is None:
            raise LoginRequired(request.url.path)
        if user.role not in allowed:
            raise HTTPException(403, refusal)
        return user

    return _check


# -- logging in and out -------------------------------------------------------------------------

auth_router = APIRouter()


class LoginIn(BaseModel):
    email: str = Field(max_length=254)
    password: str = Field(max_length=200)


@auth_router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_page(request: Request, next: str = "/console") -> Response:
    """The staff login form; ``next`` is where it goes once logged in."""
    return templates.TemplateResponse(request, "login.html", {"csrf": csrf_token(request), "next": next, "error": None})


@auth_router.post("/login", include_in_schema=False)
async def login_form(
    request: Request,
    session: DbSession,
    email: str = Form(..., max_length=254),
    password: str = Form(..., max_length=200),
    csrf_token_field: str = Form("", alias="csrf_token"),
    next: str = Form("/console"),
) -> Response:
    """The login form sent: to ``next`` when the password is right, the form again (401) when not."""
    check_csrf(request, csrf_token_field)
    try:
        user = await handoff.authenticate(session, email, password)
    except handoff.InvalidCredentials as exc:
        await audit_request(request, actor=None, action=AuditAction.LOGIN_FAILED, target_type="email", target_id=email)
        context = {"csrf": csrf_token(request), "next": next, "error": str(exc), "email": email}
        return templates.TemplateResponse(request, "login.html", context, status_code=401)
    login_session(request, user)
    await audit_request(request, actor=user, action=AuditAction.LOGIN, target_type="user", target_id=user.id)
    target = next if next.startswith("/") and not next.startswith("//") else "/console"
    return RedirectResponse(target, status_code=303)


@auth_router.post("/api/auth/login", tags=["auth"])
async def login_api(body: LoginIn, request: Request, session: DbSession) -> dict:
    """Log in for API use; returns the CSRF token to send as X-CSRF-Token on changes."""
    try:
        user = await handoff.authenticate(session, body.email, body.password)
    except handoff.InvalidCredentials as exc:
        await audit_request(request, actor=None, action=AuditAction.LOGIN_FAILED, target_type="email", target_id=body.email)
        raise HTTPException(401, str(exc)) from exc
    await audit_request(request, actor=user, action=AuditAction.LOGIN, target_type="user", target_id=user.id)
    return {"csrf_token": login_session(request, user), "user": {"id": user.id, "name": user.name, "role": user.role}}


@auth_router.get("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    """End the session; back to the login page."""
    if user_id := request.session.get("uid"):
        await audit_request(request, actor=int(user_id), action=AuditAction.LOGOUT, target_type="user", target_id=user_id)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@auth_router.get("/api/me", tags=["auth"])
async def me(user: CurrentUser) -> dict:
    """The logged-in user."""
    return {"id": user.id, "name": user.name, "email": user.email, "role": user.role}
