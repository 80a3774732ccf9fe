"""The admins' company's-words page (``/admin/settings``): the company's and the bot's names, the
widget's colour and greeting, the languages offered and the out-of-hours and survey wordings. One
form, posted to ``do_change_words``: saved as a whole, or shown again as typed with the reason
(nothing changed)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

import handoff
from core.languages import LANGUAGES
from core.web import app_state
from handoff.admin_actions import REFUSALS, do_change_words, refusal_status
from handoff.admin_pages import AdminUser, back_to, base_context, field, page_language, read_form, refusal_text
from handoff.admin_texts import TEXTS
from handoff.errors import Refusal
from handoff.words import COLOUR, NAMES, WORDINGS

pages = APIRouter(include_in_schema=False)
templates = handoff.admin_pages.templates
MAX_TEXT = 4000  # cut before the checks: longer than any setting allows, so still refused when over


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip()[:MAX_TEXT] if isinstance(value, str) else ""


def words_of(form: FormData) -> dict[str, object]:
    """The words a settings form carries, as ``handoff.set_words`` takes them."""
    words: dict[str, object] = {key: _text(form, key) for key in NAMES}
    words[COLOUR] = field(form, COLOUR)[:40]
    words["languages"] = [v for v in form.getlist("languages") if isinstance(v, str)][: len(LANGUAGES) + 5]
    for key in WORDINGS:
        words[key] = {lang: _text(form, f"{key}_{lang}") for lang in LANGUAGES}
    return words


def _said(lang: str, exc: Exception) -> str:
    """The refusal in ``lang``, naming the field as the page labels it."""
    if isinstance(exc, Refusal) and f"words_{exc.params.get('field')}" in TEXTS[lang]:
        exc.params["field"] = TEXTS[lang][f"words_{exc.params['field']}"]
    return refusal_text(lang, exc)


async def _page(
    request: Request,
    user: handoff.User,
    lang: str,
    *,
    values: dict | None = None,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    if values is None:
        async with app_state(request).read_sessions() as session:
            values = await handoff.read_words(session)
    context = base_context(
        request, user, lang, values=values, names=NAMES, wordings=WORDINGS, offered=LANGUAGES, error=error, notice=notice
    )
    return templates.TemplateResponse(request, "admin_words.html", context, status_code=status)


@pages.get("/admin/settings", response_class=HTMLResponse)
async def words_page(request: Request, user: AdminUser) -> Response:
    """The company's words as the admins set them (empty: the default), in one form."""
    lang = page_language(request)
    notice = TEXTS[lang]["words_saved"] if request.query_params.get("done") == "saved" else None
    return await _page(request, user, lang, notice=notice)


@pages.post("/admin/settings")
async def change_words_form(request: Request, user: AdminUser) -> Response:
    """The form sent: every word saved, or the form again as typed with the reason."""
    form = await read_form(request)
    lang = page_language(request, form)
    words = words_of(form)
    try:
        await do_change_words(request, user, words)
    except REFUSALS as exc:
        return await _page(request, user, lang, values=words, error=_said(lang, exc), status=refusal_status(exc))
    return back_to("/admin/settings", lang, done="saved")
