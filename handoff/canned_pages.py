"""The canned responses page (``/admin/canned``): every reply an agent can insert with
``/shortcut``, per language, for one team or for everyone; searched by words of the shortcut or
the text. Every staff user may read it; admins and supervisors add, change and remove replies
(``handoff.admin_actions``: one unit of work with its audit entry). Refused input is shown again
as typed, with the reason in the reader's language; nothing is changed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

import handoff
from core.languages import LANGUAGES
from core.web import DbInt, app_state
from handoff.admin_actions import REFUSALS, do_add_canned, do_change_canned, do_delete_canned, refusal_status
from handoff.admin_pages import back_to, base_context, field, page_language, read_form, refusal_text, templates
from handoff.admin_texts import say
from handoff.auth import page_user
from handoff.canned import EVERYONE, MAX_TEXT, find_canned
from handoff.models import Role, User

pages = APIRouter(include_in_schema=False)
MANAGERS = (Role.ADMIN, Role.SUPERVISOR)
"""Who may change the canned responses; everyone else on the staff reads them."""
Reader = Annotated[User, Depends(page_user(*Role, refusal="this page is for staff"))]
Manager = Annotated[User, Depends(page_user(*MANAGERS, refusal="only admins and supervisors change canned responses"))]
ALL_TEAMS = "*"  # the team filter showing every reply, whoever it is for


def _reply_of(form: FormData) -> dict:
    """The reply a form carries, as ``handoff.canned`` takes it."""
    return {
        "shortcut": field(form, "shortcut")[:60],
        "lang": field(form, "reply_lang")[:8],
        "text": text.strip()[: MAX_TEXT + 1] if isinstance(text := form.get("text"), str) else "",  # one over: refused, never cut
        "team_id": field(form, "team")[:40] or None,
    }


async def _page(
    request: Request,
    user: User,
    lang: str,
    *,
    edit: int | None = None,
    typed: dict | None = None,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    """The search, the list it finds, and the form of a new reply or of the one being edited."""
    query = request.query_params
    words, reply_lang, team = query.get("q", "")[:100], query.get("in", "")[:8], query.get("team", ALL_TEAMS)[:40]
    async with app_state(request).read_sessions() as session:  # afresh: the request's began before its change
        teams = await handoff.list_teams(session)
        replies = await find_canned(
            session,
            lang=reply_lang if reply_lang in LANGUAGES else None,
            team_id=None if team == ALL_TEAMS else team,
            words=words,
        )
        editing = await session.get(handoff.CannedResponse, edit) if edit is not None else None
    if typed is None:
        typed = {"shortcut": "", "lang": lang, "text": "", "team_id": None}
        if editing is not None:
            typed = {k: getattr(editing, k) for k in ("shortcut", "lang", "text", "team_id")}
    context = base_context(
        request,
        user,
        lang,
        replies=replies,
        teams=teams,
        names={t.id: t.name for t in teams},
        offered=LANGUAGES,
        words=words,
        reply_lang=reply_lang,
        team=team,
        all_teams=ALL_TEAMS,
        everyone=EVERYONE,
        editing=editing,
        typed=typed,
        manages=user.role in {r.value for r in MANAGERS},
        max_text=MAX_TEXT,
        error=error,
        notice=notice,
    )
    return templates.TemplateResponse(request, "admin_canned.html", context, status_code=status)


@pages.get("/admin/canned", response_class=HTMLResponse)
async def canned_page(request: Request, user: Reader, edit: DbInt | None = None) -> Response:
    """The canned responses, searched (``q``: words; ``in``: a language; ``team``: one team, ``""``
    for everyone's, ``*`` all); ``edit`` opens one reply's form (for admins and supervisors)."""
    lang = page_language(request)
    done = request.query_params.get("done")
    notice = None
    if done in ("canned_added", "canned_saved", "canned_deleted"):
        notice = say(lang, done, shortcut=request.query_params.get("shortcut", "")[:40])
    return await _page(request, user, lang, edit=edit, notice=notice)


@pages.post("/admin/canned")
async def add_canned_form(request: Request, user: Manager) -> Response:
    """A new reply: listed, or the form again as typed with the reason."""
    form = await read_form(request)
    lang = page_language(request, form)
    reply = _reply_of(form)
    try:
        shortcut = await do_add_canned(request, user, **reply)
    except REFUSALS as exc:
        return await _page(request, user, lang, typed=reply, error=refusal_text(lang, exc), status=refusal_status(exc))
    return back_to("/admin/canned", lang, done="canned_added", shortcut=shortcut)


@pages.post("/admin/canned/{canned_id}")
async def change_canned_form(canned_id: DbInt, request: Request, user: Manager) -> Response:
    """A reply's form sent: saved as a whole, or shown again as typed with the reason."""
    form = await read_form(request)
    lang = page_language(request, form)
    reply = _reply_of(form)
    try:
        shortcut = await do_change_canned(request, user, canned_id, **reply)
    except REFUSALS as exc:
        status = refusal_status(exc)
        edit = None if status == 404 else canned_id
        return await _page(request, user, lang, edit=edit, typed=reply, error=refusal_text(lang, exc), status=status)
    return back_to("/admin/canned", lang, done="canned_saved", shortcut=shortcut)


@pages.post("/admin/canned/{canned_id}/delete")
async def delete_canned_form(canned_id: DbInt, request: Request, user: Manager) -> Response:
    """Remove a reply (agents no longer see it under "/")."""
    form = await read_form(request)
    lang = page_language(request, form)
    try:
        shortcut = await do_delete_canned(request, user, canned_id)
    except REFUSALS as exc:
        return await _page(request, user, lang, error=refusal_text(lang, exc), status=refusal_status(exc))
    return back_to("/admin/canned", lang, done="canned_deleted", shortcut=shortcut)
