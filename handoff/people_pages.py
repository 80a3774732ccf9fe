"""The admins' people page (``/admin/people``: add staff with a one-time password shown once,
deactivate them, reset passwords, change roles, teams and names) and every user's account page
(``/account``: their own display name; the password has its own page). Built like the teams page
(``handoff.admin_pages``): HTML forms, the JSON API's functions, refusals said in the reader's
language with nothing changed."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

import handoff
from core.web import DbInt, app_state
from handoff.admin_actions import (
    REFUSALS,
    NewUser,
    do_add_invited_user,
    do_add_user,
    do_change_role,
    do_deactivate_user,
    do_invite_user,
    do_reactivate_user,
    do_rename_user,
    do_reset_password,
    do_set_user_teams,
    refusal_status,
)
from handoff.admin_pages import (
    AdminUser,
    FormRefusal,
    back_to,
    base_context,
    field,
    page_language,
    read_form,
    refusal_text,
    templates,
)
from handoff.admin_texts import say
from handoff.auth import page_user
from handoff.invitation_pages import INVITATION_PAGE
from handoff.models import Role, User

pages = APIRouter(include_in_schema=False)
StaffUser = Annotated[User, Depends(page_user(*Role, refusal="this page is for staff"))]
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
NO_STORE = {"Cache-Control": "no-store"}  # a page showing a one-time password is never cached


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError as exc:
        raise FormRefusal(f"{value!r} is not a role", key="bad_role") from exc


async def _people_page(
    request: Request,
    user: User,
    lang: str,
    *,
    manage: int | None = None,
    status: int = 200,
    **shown: object,
) -> Response:
    """The list of staff, the form adding one, and the forms of the person being managed (read
    afresh: the request's own read session began before the change it shows)."""
    async with app_state(request).read_sessions() as session:
        people = await handoff.list_users(session)
        teams = await handoff.list_teams(session)
        members = await handoff.team_members(session)
    member_of: dict[int, list[str]] = {}
    for team_id, user_ids in members.items():
        for user_id in user_ids:
            member_of.setdefault(user_id, []).append(team_id)
    managed = next((p for p in people if p.id == manage), None)
    hours = app_state(request).settings.invitation_hours
    context = base_context(
        request,
        user,
        lang,
        people=people,
        teams=teams,
        member_of=member_of,
        managed=managed,
        roles=list(Role),
        invitation_hours=hours,
        **shown,
    )
    context.setdefault("typed", {})
    if context.get("invitation"):  # the token made into the link the person opens, and its hours
        context["invitation"] = (*context["invitation"], hours)
    headers = NO_STORE if shown.get("one_time") or shown.get("invitation") else None
    return templates.TemplateResponse(request, "admin_people.html", context, status_code=status, headers=headers)


@pages.get("/admin/people", response_class=HTMLResponse)
async def people_page(request: Request, user: AdminUser, manage: int | None = None) -> Response:
    """Every staff account; ``manage`` opens one person's forms."""
    lang = page_language(request)
    done, name = request.query_params.get("done"), request.query_params.get("name", "")[:120]
    notice = None
    if done in ("deactivated_person", "reactivated_person", "role_changed", "teams_saved", "renamed"):
        notice = say(lang, done, name=name, count=request.query_params.get("count", "0")[:6])
    return await _people_page(request, user, lang, manage=manage, notice=notice)


@pages.post("/admin/people")
async def add_person_form(request: Request, user: AdminUser) -> Response:
    """The add-a-person form sent: the page with their one-time password (shown this once), or
    the form again with the reason."""
    form = await read_form(request)
    lang = page_language(request, form)
    teams = [t for t in form.getlist("teams") if isinstance(t, str)]
    email, name = field(form, "email")[:254], " ".join(field(form, "name").split())
    try:
        if not _EMAIL.fullmatch(email):
            raise FormRefusal("give an e-mail address", key="bad_email")
        if not 1 <= len(name) <= handoff.users.MAX_NAME_CHARS:
            raise FormRefusal("give a name", key="bad_name")
        new = NewUser(email, name, _role(field(form, "role")), teams)
        if field(form, "way_in") == "invitation":
            added, token = await do_add_invited_user(request, user, new)
            shown: dict = {"invitation": (added.name, invitation_link(request, token))}
        else:
            added, password = await do_add_user(request, user, new)
            shown = {"one_time": (added.name, password)}
    except REFUSALS as exc:
        typed = {"email": email, "name": name, "role": field(form, "role"), "teams": teams, "way_in": field(form, "way_in")}
        return await _people_page(request, user, lang, status=refusal_status(exc), error=refusal_text(lang, exc), typed=typed)
    return await _people_page(request, user, lang, notice=say(lang, "added_person", name=added.name), **shown)


def invitation_link(request: Request, token: str) -> str:
    """The address of an invitation: the desk's public address (the request's when not set)."""
    base = app_state(request).settings.public_url or str(request.base_url)
    return f"{base.rstrip('/')}{INVITATION_PAGE}/{token}"


async def _change(request: Request, user: User, user_id: int, change: Callable[[dict], Awaitable[dict]]) -> Response:
    """Run one change of the managed person's: back to their forms with what was done, or the
    page again with the reason (status 4xx)."""
    form = await read_form(request)
    lang = page_language(request, form)
    try:
        done = await change(dict(form) | {"teams": [t for t in form.getlist("teams") if isinstance(t, str)]})
    except REFUSALS as exc:
        return await _people_page(request, user, lang, manage=user_id, status=refusal_status(exc), error=refusal_text(lang, exc))
    if "one_time" in done or "invitation" in done:
        notice = say(lang, "one_time_title" if "one_time" in done else "invitation_title", name=next(iter(done.values()))[0])
        return await _people_page(request, user, lang, manage=user_id, notice=notice, **done)
    return back_to("/admin/people", lang, manage=str(user_id), **done)


def _text(form: dict, name: str) -> str:
    value = form.get(name)
    return value.strip()[:200] if isinstance(value, str) else ""


@pages.post("/admin/people/{user_id}/role")
async def role_form(user_id: DbInt, request: Request, user: AdminUser) -> Response:
    """Give the person another role (refused for the desk's last admin)."""

    async def change(form: dict) -> dict:
        changed = await do_change_role(request, user, user_id, _role(_text(form, "role")))
        return {"done": "role_changed", "name": changed.name}

    return await _change(request, user, user_id, change)


@pages.post("/admin/people/{user_id}/teams")
async def teams_form(user_id: DbInt, request: Request, user: AdminUser) -> Response:
    """Make the person a member of exactly the teams ticked."""

    async def change(form: dict) -> dict:
        changed, _ = await do_set_user_teams(request, user, user_id, form["teams"])
        return {"done": "teams_saved", "name": changed.name}

    return await _change(request, user, user_id, change)


@pages.post("/admin/people/{user_id}/name")
async def name_form(user_id: DbInt, request: Request, user: AdminUser) -> Response:
    """Change the person's display name."""

    async def change(form: dict) -> dict:
        changed = await do_rename_user(request, user, user_id, _text(form, "name"))
        return {"done": "renamed", "name": changed.name}

    return await _change(request, user, user_id, change)


@pages.post("/admin/people/{user_id}/password")
async def reset_form(user_id: DbInt, request: Request, user: AdminUser) -> Response:
    """A new one-time password for the person, shown on the page this once."""

    async def change(form: dict) -> dict:
        changed, password = await do_reset_password(request, user, user_id)
        return {"one_time": (changed.name, password)}

    return await _change(request, user, user_id, change)


@pages.post("/admin/people/{user_id}/deactivate")
async def deactivate_form(user_id: DbInt, request: Request, user: AdminUser) -> Response:
    """Deactivate the person: sessions end, their chats go back to the queue."""

    async def change(form: dict) -> dict:
        changed, requeued = await do_deactivate_user(request, user, user_id)
        return {"done": "deactivated_person", "name": changed.name, "count": str(len(requeued))}

    return await _change(request, user, user_id, change)


@pages.post("/admin/people/{user_id}/invite")
async def invite_form(user_id: DbInt, request: Request, user: AdminUser) -> Response:
    """A new invitation link for the person (their older ones stop working), shown this once."""

    async def change(form: dict) -> dict:
        changed, token = await do_invite_user(request, user, user_id)
        return {"invitation": (changed.name, invitation_link(request, token))}

    return await _change(request, user, user_id, change)


@pages.post("/admin/people/{user_id}/reactivate")
async def reactivate_form(user_id: DbInt, request: Request, user: AdminUser) -> Response:
    """Let a deactivated person log in again."""

    async def change(form: dict) -> dict:
        changed = await do_reactivate_user(request, user, user_id)
        return {"done": "reactivated_person", "name": changed.name}

    return await _change(request, user, user_id, change)


# -- the user's own account -------------------------------------------------------------------------


@pages.get("/account", response_class=HTMLResponse)
async def account_page(request: Request, user: StaffUser) -> Response:
    """The user's own account: their display name, and a link to change their password."""
    lang = page_language(request)
    notice = say(lang, "renamed", name=user.name) if request.query_params.get("done") == "renamed" else None
    context = base_context(request, user, lang, notice=notice, error=None)
    return templates.TemplateResponse(request, "account.html", context)


@pages.post("/account")
async def account_form(request: Request, user: StaffUser) -> Response:
    """The user's new display name, saved (and audited), or the form again with the reason."""
    form = await read_form(request)
    lang = page_language(request, form)
    try:
        await do_rename_user(request, user, user.id, field(form, "name")[:200])
    except REFUSALS as exc:
        context = base_context(request, user, lang, notice=None, error=refusal_text(lang, exc))
        return templates.TemplateResponse(request, "account.html", context, status_code=refusal_status(exc))
    return back_to("/account", lang, done="renamed")
