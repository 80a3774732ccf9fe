"""Staff login: argon2-checked passwords, a signed HttpOnly session cookie, CSRF on every change,
role checks as FastAPI dependencies, and the login pages and API (``auth_router``).

Users and their roles are handoff's, so every package's routes check access with these: API routes
with ``CurrentUser``/``require_roles``, staff pages with ``page_user`` (to the login page and back
when nobody is logged in, 403 for the wrong role)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

import handoff
from core.security import same_secret
from core.web import app_state, page_templates
from handoff import Role, User
from handoff.audit import AuditAction, AuditClient, audit_request, record_audit

if TYPE_CHECKING:
    from connectors.login_throttle import LoginWait

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


SESSION_EPOCH = "ep"  # the user's session_epoch when the cookie was issued


def login_session(request: Request, user: User) -> str:
    """Start a fresh session for ``user`` (who stays logged in until ``user.session_epoch``
    changes); returns its CSRF token."""
    request.session.clear()
    request.session["uid"] = user.id
    request.session[SESSION_EPOCH] = user.session_epoch
    return csrf_token(request)


async def session_user(connection: HTTPConnection, session: AsyncSession) -> User | None:
    """The active user whose session this request or WebSocket carries; ``None`` when it carries
    none, or one ended since (logged out, password changed or reset, deactivated, role changed).
    A cookie from before sessions had an epoch counts as epoch 0: it ends at the user's next change."""
    values = connection.session if "session" in connection.scope else {}
    user_id = values.get("uid")
    if not isinstance(user_id, int):
        return None
    user = await handoff.get_user(session, user_id)
    if user is None or user.session_epoch != values.get(SESSION_EPOCH, 0):
        return None
    return user


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    # Routes given a DbSession only read (it is never committed): a read session, which on SQLite
    # takes no write lock however long the request runs (a report, an export).
    async with app_state(request).read_sessions() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(_session)]
ONE_TIME_REFUSAL = "change your one-time password first (/account/password)"


async def logged_in_user(request: Request) -> User:
    """The logged-in staff user, or 401 — even one whose password is still one-time (for the
    password change and logging out). Read in a session of its own that is closed at once, so no
    transaction stays open while the route runs its own unit of work."""
    async with app_state(request).read_sessions() as session:
        user = await session_user(request, session)
    if user is None:
        request.session.clear()  # an ended session: its cookie is removed too
        raise HTTPException(status_code=401, detail="log in first")
    return user


LoggedIn = Annotated[User, Depends(logged_in_user)]


async def current_user(user: LoggedIn) -> User:
    """The logged-in staff user, or 401; 403 while their password is one-time."""
    if user.must_change_password:
        raise HTTPException(status_code=403, detail=ONE_TIME_REFUSAL)
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


async def accessible_conversation(session: AsyncSession, conversation_id: str, user: User) -> handoff.Conversation:
    """The conversation, if ``user`` may open it: 404 when there is none, 403 when it belongs to a
    team the user is not in (the console's and the customer card's routes share this check)."""
    try:
        conversation = await handoff.get_conversation(session, conversation_id)
    except handoff.ConversationNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    if not handoff.can_access(conversation, user, await handoff.user_team_ids(session, user)):
        raise HTTPException(403, "this conversation belongs to a team you are not in")
    return conversation


Supervisor = Annotated[User, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))]


# -- staff pages --------------------------------------------------------------------------------


class LoginRequired(HTTPException):
    """A staff page was asked for with nobody logged in. ``redirect_to_login`` (installed by the
    hub as this exception's handler) answers with the login page, which comes back here after."""

    def __init__(self, path: str, *, page: str = "/login") -> None:
        location = f"{page}?next={quote(path)}"
        super().__init__(status_code=303, detail="log in first", headers={"Location": location})
        self.location = location


class PasswordChangeRequired(LoginRequired):
    """A staff page was asked for by a user whose password is one-time: to the password page and
    back (the login is not complete until the password is their own)."""

    def __init__(self, path: str) -> None:
        super().__init__(path, page=PASSWORD_PAGE)


async def redirect_to_login(request: Request, exc: Exception) -> Response:
    """The exception handler of ``LoginRequired``: a plain redirect to the login page."""
    if not isinstance(exc, LoginRequired):  # installed for LoginRequired only
        raise exc
    return RedirectResponse(exc.location, status_code=303)


def page_user(*roles: Role, refusal: str) -> Callable[..., Awaitable[User]]:
    """Dependency of a staff page: the logged-in user, who must have one of ``roles``. Nobody
    logged in → ``LoginRequired`` (to the login page and back); a one-time password →
    ``PasswordChangeRequired``; another role → 403 ``refusal``. The user is read in the page's own
    ``DbSession``."""
    allowed = {r.value for r in roles}

    async def _check(request: Request, session: DbSession) -> User:
        user = await session_user(request, session)
        if user is None:
            request.session.clear()
            raise LoginRequired(request.url.path)
        if user.must_change_password:
            raise PasswordChangeRequired(request.url.path)
        if user.role not in allowed:
            raise HTTPException(403, refusal)
        return user

    return _check


# -- logging in and out -------------------------------------------------------------------------

auth_router = APIRouter()
PASSWORD_PAGE = "/account/password"  # noqa: S105 - a page's path, not a password


class LoginIn(BaseModel):
    email: str = Field(max_length=254)
    password: str = Field(max_length=200)


class PasswordIn(BaseModel):
    current_password: str = Field(max_length=200)
    new_password: str = Field(max_length=200)


class TooManyAttempts(HTTPException):
    """Too many wrong passwords for this account or from this address, or more logins than the hub
    checks at once: 429 with ``Retry-After``."""

    def __init__(self, wait: LoginWait) -> None:
        why = "the desk is checking many logins right now" if wait.busy else "too many wrong passwords"
        super().__init__(
            status_code=429, detail=f"{why}: try again in {wait.seconds} s", headers={"Retry-After": str(wait.seconds)}
        )
        self.wait_s = wait.seconds


async def _checked(request: Request, email: str, check: Callable[[], Awaitable[User]]) -> User:
    """Run a password ``check`` for the account ``email`` under the login throttle: refused with
    ``TooManyAttempts`` while the account or the client's address is locked; a right password
    starts the account afresh, a wrong one (``InvalidCredentials``) stays counted."""
    throttle = app_state(request).login_throttle
    ip = throttle.client_ip(request)
    wait = await throttle.attempt(ip=ip, email=email)
    if wait:
        raise TooManyAttempts(wait)
    user = await check()
    await throttle.succeeded(ip=ip, email=email)
    return user


async def log_in(request: Request, email: str, password: str) -> User:
    """Check the credentials (throttled, off the event loop, outside any transaction) and start a
    session for the user. Raises ``TooManyAttempts`` or ``handoff.InvalidCredentials``."""
    read_sessions = app_state(request).read_sessions
    try:
        user = await _checked(request, email, lambda: handoff.authenticate(read_sessions, email, password))
    except handoff.InvalidCredentials:
        await audit_request(request, actor=None, action=AuditAction.LOGIN_FAILED, target_type="email", target_id=email)
        raise
    login_session(request, user)
    await audit_request(request, actor=user, action=AuditAction.LOGIN, target_type="user", target_id=user.id)
    return user


def _safe_next(target: str, default: str = "/console") -> str:
    """``target`` if it is a path of this site (never another site's URL)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else default


@auth_router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_page(request: Request, next: str = "/console") -> Response:
    """The staff login form; ``next`` is where it goes once logged in."""
    return templates.TemplateResponse(request, "login.html", {"csrf": csrf_token(request), "next": next, "error": None})


@auth_router.post("/login", include_in_schema=False)
async def login_form(
    request: Request,
    email: str = Form(..., max_length=254),
    password: str = Form(..., max_length=200),
    csrf_token_field: str = Form("", alias="csrf_token"),
    next: str = Form("/console"),
) -> Response:
    """The login form sent: to ``next`` when the password is right (through the password page when
    it is one-time), the form again when not (401; 429 with ``Retry-After`` after too many)."""
    check_csrf(request, csrf_token_field)
    try:
        user = await log_in(request, email, password)
    except (handoff.InvalidCredentials, TooManyAttempts) as exc:
        status, headers = (429, exc.headers) if isinstance(exc, TooManyAttempts) else (401, None)
        error = exc.detail if isinstance(exc, TooManyAttempts) else str(exc)
        context = {"csrf": csrf_token(request), "next": next, "error": error, "email": email}
        return templates.TemplateResponse(request, "login.html", context, status_code=status, headers=headers)
    target = _safe_next(next)
    if user.must_change_password:
        return RedirectResponse(f"{PASSWORD_PAGE}?next={quote(target)}", status_code=303)
    return RedirectResponse(target, status_code=303)


@auth_router.post("/api/auth/login", tags=["auth"])
async def login_api(body: LoginIn, request: Request) -> dict:
    """Log in for API use; returns the CSRF token to send as X-CSRF-Token on changes. While
    ``must_change_password`` is true, only ``/api/auth/password``, ``/api/me`` and logging out
    answer (the rest: 403). Too many wrong passwords: 429 with ``Retry-After``."""
    try:
        user = await log_in(request, body.email, body.password)
    except handoff.InvalidCredentials as exc:
        raise HTTPException(401, str(exc)) from exc
    return {
        "csrf_token": request.session["csrf"],
        "user": {"id": user.id, "name": user.name, "role": user.role},
        "must_change_password": user.must_change_password,
    }


async def log_out(request: Request) -> None:
    """End every session of the user logged in here (each copy of their cookie, on any device),
    then this one. A session already ended changes nothing (so an old cookie cannot log anybody out)."""
    async with app_state(request).read_sessions() as session:
        user = await session_user(request, session)
    if user is not None:
        async with app_state(request).desk.unit_of_work() as session:
            await handoff.log_out(session, user.id)
            await record_audit(
                session,
                actor=user,
                action=AuditAction.LOGOUT,
                target_type="user",
                target_id=user.id,
                client=AuditClient.of(request),
            )
    request.session.clear()


@auth_router.get("/logout", response_class=HTMLResponse, include_in_schema=False)
async def logout_page(request: Request) -> Response:
    """Logging out is a POST: this page only offers the button (a link or an image elsewhere
    cannot log anybody out). Nobody logged in: to the login page."""
    if "uid" not in request.session:
        return RedirectResponse("/login", status_code=303)
    return templates.TemplateResponse(request, "logout.html", {"csrf": csrf_token(request)})


@auth_router.post("/logout", include_in_schema=False)
async def logout(request: Request, csrf_token_field: str = Form("", alias="csrf_token")) -> Response:
    """The pages' logout button: end the user's sessions everywhere; back to the login page."""
    if "uid" in request.session:
        check_csrf(request, csrf_token_field)
        await log_out(request)
    return RedirectResponse("/login", status_code=303)


@auth_router.post("/api/auth/logout", status_code=204, tags=["auth"], dependencies=[Depends(csrf_protected)])
async def logout_api(request: Request, user: LoggedIn) -> Response:
    """End the user's sessions everywhere (every copy of the cookie)."""
    await log_out(request)
    return Response(status_code=204)


@auth_router.get("/api/me", tags=["auth"])
async def me(user: LoggedIn) -> dict:
    """The logged-in user (also while their password is one-time: ``must_change_password``)."""
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "must_change_password": user.must_change_password,
    }


# -- the user's own password ------------------------------------------------------------------


async def change_own_password(request: Request, user: User, current: str, new: str) -> str:
    """``user`` replaces their password: the current one is checked (throttled like a login, off
    the event loop), the new one must follow the rules and differ; every other session of theirs
    ends and this one goes on. Returns the session's new CSRF token. Raises ``TooManyAttempts``,
    ``handoff.InvalidCredentials`` or ``handoff.WeakPassword``."""

    async def check() -> User:
        await handoff.verify_password(user, current)
        return user

    await _checked(request, user.email, check)
    if new == current:
        raise handoff.WeakPassword("choose a new password, not the one you have")
    new_hash = await handoff.hash_password(new)
    async with app_state(request).desk.unit_of_work() as session:
        changed = await handoff.change_password(session, user.id, new_hash)
        await record_audit(
            session,
            actor=user,
            action=AuditAction.USER_CHANGE,
            target_type="user",
            target_id=user.id,
            details={"password": "changed"},
            client=AuditClient.of(request),
        )
    return login_session(request, changed)


def _password_page(request: Request, user: User, next: str, *, error: str | None = None, status: int = 200) -> Response:
    context = {"csrf": csrf_token(request), "next": _safe_next(next), "error": error, "user": user}
    return templates.TemplateResponse(request, "password.html", context, status_code=status)


async def _password_page_user(request: Request) -> User:
    """The logged-in user of the password page (one-time password or not), or to the login page."""
    try:
        return await logged_in_user(request)
    except HTTPException as exc:
        raise LoginRequired(request.url.path) from exc


PasswordPageUser = Annotated[User, Depends(_password_page_user)]


@auth_router.get(PASSWORD_PAGE, response_class=HTMLResponse, include_in_schema=False)
async def password_page(request: Request, user: PasswordPageUser, next: str = "/console") -> Response:
    """The form to change one's password (where a one-time password leads after logging in)."""
    return _password_page(request, user, next)


@auth_router.post(PASSWORD_PAGE, include_in_schema=False)
async def password_form(
    request: Request,
    user: PasswordPageUser,
    current_password: str = Form(..., max_length=200),
    new_password: str = Form(..., max_length=200),
    new_password_again: str = Form(..., max_length=200),
    csrf_token_field: str = Form("", alias="csrf_token"),
    next: str = Form("/console"),
) -> Response:
    """The password form sent: on to ``next`` once changed, the form again with the reason when not."""
    check_csrf(request, csrf_token_field)
    if new_password != new_password_again:
        return _password_page(request, user, next, error="the two new passwords differ", status=400)
    try:
        await change_own_password(request, user, current_password, new_password)
    except TooManyAttempts as exc:
        return _password_page(request, user, next, error=str(exc.detail), status=429)
    except handoff.InvalidCredentials:
        return _password_page(request, user, next, error="the current password is wrong", status=401)
    except handoff.WeakPassword as exc:
        return _password_page(request, user, next, error=str(exc), status=400)
    return RedirectResponse(_safe_next(next), status_code=303)


@auth_router.post("/api/auth/password", tags=["auth"], dependencies=[Depends(csrf_protected)])
async def password_api(body: PasswordIn, request: Request, user: LoggedIn) -> dict:
    """Change one's own password (also a one-time one). Every other session ends; this one goes on
    with the new CSRF token returned. Wrong current password: 401 (throttled like logins: 429)."""
    try:
        return {"csrf_token": await change_own_password(request, user, body.current_password, body.new_password)}
    except handoff.InvalidCredentials as exc:
        raise HTTPException(401, "the current password is wrong") from exc
    except handoff.WeakPassword as exc:
        raise HTTPException(422, str(exc)) from exc
