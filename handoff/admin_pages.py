"""The admins' teams page (``/admin/teams``): plain HTML forms drawn on the server, each posted to a
route that parses it, calls the same ``handoff.admin_actions`` function as the JSON API, and either
redirects back with what was done or shows the form again — with what was typed and the reason, in
the reader's language — when it was refused (nothing changed). The people page and the account
page are in ``handoff.people_pages``; what they share is here."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

import handoff
from core.web import DB_INT_MAX, app_state, page_templates
from handoff.admin_actions import REFUSALS, do_archive_team, do_change_team, do_create_team, do_delete_team, refusal_status
from handoff.admin_texts import LANGUAGE_NAMES, TEXTS, admin_language, day_names, say
from handoff.auth import check_csrf, csrf_token, page_user
from handoff.errors import Refusal
from handoff.hours import DAYS, DEFAULT_HOURS
from handoff.models import Role, User

templates = page_templates(Path(__file__).parent / "templates")
pages = APIRouter(include_in_schema=False)
AdminUser = Annotated[User, Depends(page_user(Role.ADMIN, refusal="the admin pages are for admins"))]
MAX_FIELD = 2000  # longer than any field of these forms: cut, then refused by the checks if still wrong
_TIME = re.compile(r"\d{2}:\d{2}")


class FormRefusal(Refusal):
    """A form field the page itself cannot read (before any domain function sees it)."""


def page_language(request: Request, form: Mapping[str, Any] | None = None) -> str:
    """The reader's language: the form's or the URL's ``lang``, else the browser's."""
    asked = (form or {}).get("lang") or request.query_params.get("lang")
    return admin_language(asked if isinstance(asked, str) else None, request.headers.get("accept-language"))


def refusal_text(lang: str, exc: Exception) -> str:
    """A refusal said in ``lang`` (its English message when it has no translation)."""
    key = "bad_name" if isinstance(exc, handoff.InvalidName) else getattr(exc, "key", None)
    if key in TEXTS[lang]:
        return say(lang, key, **getattr(exc, "params", {}))
    return str(exc)


def base_context(request: Request, user: User, lang: str, **values: object) -> dict:
    """What every admin and account page's template needs."""
    return {
        "csrf": csrf_token(request),
        "user": user,
        "lang": lang,
        "t": TEXTS[lang],
        "languages": LANGUAGE_NAMES,
        "path": request.url.path,
        **values,
    }


def back_to(path: str, lang: str, **query: str) -> Response:
    """After a change: to ``path`` with what was done in the query (the page says it)."""
    return RedirectResponse(f"{path}?{urlencode({'lang': lang, **query})}", status_code=303)


async def read_form(request: Request) -> FormData:
    """The posted form, its CSRF token checked (403 otherwise)."""
    form = await request.form()
    token = form.get("csrf_token")
    check_csrf(request, token if isinstance(token, str) else None)
    return form


def field(form: FormData, name: str) -> str:
    """A text field of the form ('' when missing or a file), trimmed and cut to a sane length."""
    value = form.get(name)
    return value.strip()[:MAX_FIELD] if isinstance(value, str) else ""


def whole_number(form: FormData, name: str, key: str) -> int:
    """A whole number field, or ``FormRefusal(key)``."""
    text = field(form, name)
    if not (text.isascii() and text.isdigit() and int(text) <= DB_INT_MAX):  # a number the database can store
        raise FormRefusal(f"{name} is not a whole number", key=key)
    return int(text)


# -- the teams page -------------------------------------------------------------------------------


def _hours(form: FormData) -> dict | None:
    """The opening hours of the form: ``None`` when always open; a day with both times empty is closed."""
    if form.get("always_open"):
        return None
    hours = {}
    for day in DAYS:
        opens, closes = field(form, f"opens_{day}"), field(form, f"closes_{day}")
        if not opens and not closes:
            continue
        if not opens or not closes:
            raise FormRefusal(f"{day}: give both times or none", key="half_hours", day=day)
        if not (_TIME.fullmatch(opens[:5]) and _TIME.fullmatch(closes[:5])):
            raise FormRefusal(f"{day}: give the times as HH:MM", key="bad_time", day=day)
        hours[day] = [opens[:5], closes[:5]]
    return hours


def team_settings_of(form: FormData) -> dict:
    """The team settings a teams form carries, as ``create_team``/``update_team`` take them."""
    share = whole_number(form, "sla_target", "bad_sla_target")
    if not 1 <= share <= 100:
        raise FormRefusal("the share is 1 to 100", key="bad_sla_target")
    return {
        "name": field(form, "name")[:120],
        "timezone": field(form, "timezone")[:60],
        "hours": _hours(form),
        "holidays": re.split(r"[\s,;]+", field(form, "holidays")) if field(form, "holidays") else [],
        "sla_seconds": whole_number(form, "sla_seconds", "bad_sla_seconds"),
        "sla_target": share / 100,
        "assignment": field(form, "assignment"),
        # Left empty: off (0), as the admin reads "never".
        "claim_answer_seconds": whole_number(form, "claim_answer_seconds", "bad_claim_answer_seconds")
        if field(form, "claim_answer_seconds")
        else 0,
        "members": _members(form),
    }


def _members(form: FormData) -> list[int]:
    """The user ids ticked (anything else posted is not an id and is left out)."""
    return [int(v) for v in form.getlist("members") if isinstance(v, str) and v.isascii() and v.isdigit() and len(v) < 10]


def _form_values(request: Request, team: handoff.Team | None, members: list[int]) -> dict:
    """A team as its form shows it; a new team's starts in the desk's time zone with its
    service-level time and the default teams' hours."""
    if team is None:
        settings = app_state(request).settings
        return {
            "id": "",
            "name": "",
            "timezone": settings.report_timezone,
            "hours": DEFAULT_HOURS,
            "holidays": "",
            "sla_seconds": settings.service_level_seconds,
            "sla_target": 80,
            "assignment": "pick",
            "claim_answer_seconds": "",
            "members": members,
        }
    return {
        "id": team.id,
        "name": team.name,
        "timezone": team.timezone,
        "hours": team.hours,
        "holidays": "\n".join(team.holidays or []),
        "sla_seconds": team.sla_seconds,
        "sla_target": round(team.sla_target * 100),
        "assignment": team.assignment,
        "claim_answer_seconds": team.claim_answer_seconds or "",
        "members": members,
    }


def _typed_values(form: FormData) -> dict:
    """What the admin typed, to show the refused form again as they left it."""
    hours = None if form.get("always_open") else {d: [field(form, f"opens_{d}"), field(form, f"closes_{d}")] for d in DAYS}
    values = {
        k: field(form, k)
        for k in ("id", "name", "timezone", "holidays", "sla_seconds", "sla_target", "assignment", "claim_answer_seconds")
    }
    return {**values, "hours": hours, "members": _members(form)}


async def _teams_page(
    request: Request,
    user: User,
    lang: str,
    *,
    edit: str | None = None,
    typed: dict | None = None,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    async with app_state(request).read_sessions() as session:  # afresh: the request's began before its change
        teams = await handoff.list_teams(session, archived=True)
        members = await handoff.team_members(session)
        people = [u for u in await handoff.list_users(session) if u.active]
    editing = next((t for t in teams if t.id == edit), None)
    values = typed or _form_values(request, editing, members.get(editing.id, []) if editing else [])
    context = base_context(
        request,
        user,
        lang,
        teams=teams,
        members=members,
        editing=editing,
        values=values,
        people=people,
        days=day_names(lang),
        error=error,
        notice=notice,
        names={t.id: t.name for t in teams},
    )
    return templates.TemplateResponse(request, "admin_teams.html", context, status_code=status)


@pages.get("/admin/teams", response_class=HTMLResponse)
async def teams_page(request: Request, user: AdminUser, edit: str | None = None) -> Response:
    """Every team (archived ones too), the form of a new team, or the one being edited."""
    lang = page_language(request)
    done = request.query_params.get("done")
    notice = None
    if done in ("created_team", "archived_team", "deleted_team", "saved"):
        params = {"team": request.query_params.get("team", "")[:40], "count": request.query_params.get("count", "0")[:6]}
        notice = say(lang, done, **params)
    return await _teams_page(request, user, lang, edit=edit, notice=notice)


async def _refused(request: Request, user: User, lang: str, exc: Exception, form: FormData, edit: str | None) -> Response:
    return await _teams_page(
        request,
        user,
        lang,
        edit=edit,
        typed=_typed_values(form),
        error=refusal_text(lang, exc),
        status=refusal_status(exc),
    )


@pages.post("/admin/teams")
async def create_team_form(request: Request, user: AdminUser) -> Response:
    """The new-team form sent: the list with the new team, or the form again with the reason."""
    form = await read_form(request)
    lang = page_language(request, form)
    team_id = field(form, "id")[:40]
    try:
        await do_create_team(request, user, team_id, **team_settings_of(form))
    except REFUSALS as exc:
        return await _refused(request, user, lang, exc, form, None)
    return back_to("/admin/teams", lang, done="created_team", team=team_id)


@pages.post("/admin/teams/{team_id}")
async def change_team_form(team_id: str, request: Request, user: AdminUser) -> Response:
    """A team's form sent: its name, hours, holidays, service level, assignment and members."""
    form = await read_form(request)
    lang = page_language(request, form)
    try:
        settings = team_settings_of(form)
        always_open = settings["hours"] is None
        await do_change_team(request, user, team_id, always_open=always_open, **settings)
    except REFUSALS as exc:
        return await _refused(request, user, lang, exc, form, team_id)
    return back_to("/admin/teams", lang, done="saved", edit=team_id)


@pages.post("/admin/teams/{team_id}/archive")
async def archive_team_form(team_id: str, request: Request, user: AdminUser) -> Response:
    """Archive the team, its queued chats moved to the team chosen."""
    form = await read_form(request)
    lang = page_language(request, form)
    try:
        moved = await do_archive_team(request, user, team_id, move_to=field(form, "move_to")[:40])
    except REFUSALS as exc:
        return await _teams_page(request, user, lang, edit=team_id, error=refusal_text(lang, exc), status=refusal_status(exc))
    return back_to("/admin/teams", lang, done="archived_team", team=team_id, count=str(len(moved)))


@pages.post("/admin/teams/{team_id}/delete")
async def delete_team_form(team_id: str, request: Request, user: AdminUser) -> Response:
    """Remove a team made by mistake; refused, naming the articles, while anything uses it."""
    form = await read_form(request)
    lang = page_language(request, form)
    try:
        await do_delete_team(request, user, team_id)
    except REFUSALS as exc:
        return await _teams_page(request, user, lang, edit=team_id, error=refusal_text(lang, exc), status=refusal_status(exc))
    return back_to("/admin/teams", lang, done="deleted_team", team=team_id)
