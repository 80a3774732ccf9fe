"""The page an invitation link opens (``/invitation/<token>``): the invited person chooses their
own password, and is logged in. A link that is unknown, used or expired is refused with what to do
(ask an admin for a new one); nothing is changed."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

import handoff
from core.web import app_state
from handoff.admin_pages import field, page_language, read_form, refusal_text, templates
from handoff.admin_texts import LANGUAGE_NAMES, TEXTS
from handoff.audit import AuditAction, AuditClient, record_audit
from handoff.auth import csrf_token, login_session
from handoff.invitations import InvitationRefused, accept_invitation, invited_user
from handoff.users import check_new_password

INVITATION_PAGE = "/invitation"
pages = APIRouter(include_in_schema=False)
_STATUS = {"invitation_unknown": 404, "invitation_used": 410, "invitation_expired": 410, "invitation_inactive": 403}
NO_STORE = {"Cache-Control": "no-store"}  # the token is in the address: never kept by a cache


def _page(request: Request, lang: str, token: str, *, user: handoff.User | None, error: str | None, status: int) -> Response:
    context = {
        "csrf": csrf_token(request),
        "lang": lang,
        "t": TEXTS[lang],
        "languages": LANGUAGE_NAMES,
        "invited": user,
        "token": token,
        "error": error,
    }
    return templates.TemplateResponse(request, "invitation.html", context, status_code=status, headers=NO_STORE)


@pages.get(INVITATION_PAGE + "/{token}", response_class=HTMLResponse)
async def invitation_page(token: str, request: Request) -> Response:
    """The form choosing one's password, or why this link cannot be used."""
    lang = page_language(request)
    async with app_state(request).read_sessions() as session:
        try:
            user = await invited_user(session, token)
        except InvitationRefused as exc:
            return _page(request, lang, token, user=None, error=refusal_text(lang, exc), status=_STATUS[exc.key])
    return _page(request, lang, token, user=user, error=None, status=200)


@pages.post(INVITATION_PAGE + "/{token}")
async def accept_form(token: str, request: Request) -> Response:
    """The password chosen: set (the link used up), the person logged in and on to the console;
    or the form again with the reason."""
    form = await read_form(request)
    lang = page_language(request, form)
    password, again = field(form, "new_password"), field(form, "new_password_again")
    async with app_state(request).read_sessions() as session:
        try:
            user = await invited_user(session, token)
        except InvitationRefused as exc:
            return _page(request, lang, token, user=None, error=refusal_text(lang, exc), status=_STATUS[exc.key])
    if password != again:
        return _page(request, lang, token, user=user, error=TEXTS[lang]["passwords_differ"], status=422)
    try:
        check_new_password(password)
    except handoff.WeakPassword:
        return _page(request, lang, token, user=user, error=TEXTS[lang]["weak_password"], status=422)
    new_hash = await handoff.hash_password(password)  # off the event loop, before the transaction
    try:
        async with app_state(request).desk.unit_of_work() as session:
            changed = await accept_invitation(session, token, new_hash)
            await record_audit(
                session,
                actor=changed,
                action=AuditAction.USER_CHANGE,
                target_type="user",
                target_id=changed.id,
                details={"password": "set through an invitation"},
                client=AuditClient.of(request),
            )
    except InvitationRefused as exc:  # used or expired between the form's check and now
        return _page(request, lang, token, user=None, error=refusal_text(lang, exc), status=_STATUS[exc.key])
    login_session(request, changed)
    return RedirectResponse(f"/console?lang={lang}", status_code=303)
