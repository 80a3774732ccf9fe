"""The admins' privacy page (``/admin/privacy``, LGPD / GDPR) over the privacy API's functions:
find a customer (a phone number, a Telegram id or @username, the widget's customer id or e-mail,
a conversation id), see what the desk holds about them (per channel: conversations, messages,
files, surveys), download the export (the API's ``/api/admin/privacy/export``, audited there),
erase it after an explicit confirmation, and set the retention period. Every change goes through
the same function as the API, which writes the audit entry; nothing is audited twice."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from core.web import app_state
from desk.privacy import MAX_RETENTION_DAYS, InvalidRetention, UnknownCustomer, find_customer, retention_days, set_retention
from desk.privacy_export import collect_customer_data
from desk.privacy_routes import do_erase_customer
from handoff.admin_pages import AdminUser, back_to, base_context, field, page_language, read_form, templates
from handoff.admin_texts import TEXTS, say
from handoff.audit import AuditClient
from handoff.models import User

pages = APIRouter(include_in_schema=False)
MAX_QUERY = 120


def held(document: dict) -> dict:
    """What an export's document holds, counted per channel (what the page shows before erasing)."""
    per_channel: dict[str, Counter] = {}
    for c in document["conversations"]:
        counts = per_channel.setdefault(c["channel"], Counter())
        counts["conversations"] += 1
        counts["messages"] += len(c["messages"])
        counts["files"] += sum(len(m["attachments"]) for m in c["messages"])
        counts["surveys"] += c["survey"] is not None
    totals = sum(per_channel.values(), Counter())
    return {
        "channels": per_channel,
        "totals": totals,
        "records": document["customers"],
        "conversations": document["conversations"],
    }


async def _page(
    request: Request,
    user: User,
    lang: str,
    *,
    customer: str = "",
    confirming: bool = False,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    found = None
    async with app_state(request).read_sessions() as session:
        days = await retention_days(session)
        if customer:
            try:
                found = held((await collect_customer_data(session, await find_customer(session, customer))).document)
            except UnknownCustomer:
                error, status = error or say(lang, "privacy_unknown", query=customer), 404
    context = base_context(
        request,
        user,
        lang,
        customer=customer,
        found=found,
        confirming=confirming and found is not None,
        export_url="/api/admin/privacy/export?" + urlencode({"customer": customer}),
        days=days,
        max_days=MAX_RETENTION_DAYS,
        error=error,
        notice=notice,
    )
    return templates.TemplateResponse(
        request, "admin_privacy.html", context, status_code=status, headers={"Cache-Control": "no-store"}
    )


@pages.get("/admin/privacy", response_class=HTMLResponse)
async def privacy_page(request: Request, user: AdminUser, customer: str = "", erase: bool = False) -> Response:
    """The search; with ``customer``, what is held about them; with ``erase``, the confirmation."""
    lang = page_language(request)
    query, done = request.query_params, request.query_params.get("done")
    notice = None
    if done == "erased":
        notice = say(lang, "privacy_erased", **{k: query.get(k, "0")[:9] for k in ("conversations", "messages", "files")})
    elif done == "retention":
        notice = TEXTS[lang]["privacy_retention_saved"]
    return await _page(request, user, lang, customer=customer.strip()[:MAX_QUERY], confirming=erase, notice=notice)


@pages.post("/admin/privacy/erase")
async def erase_form(request: Request, user: AdminUser) -> Response:
    """Erase the customer, once the admin has ticked the confirmation; refused (nothing changed)
    without it, or for a search that names nobody."""
    form = await read_form(request)
    lang = page_language(request, form)
    customer = field(form, "customer")[:MAX_QUERY]
    if form.get("confirm") != "yes":
        error = TEXTS[lang]["privacy_confirm_first"]
        return await _page(request, user, lang, customer=customer, confirming=True, error=error, status=422)
    try:
        done = await do_erase_customer(request, user, customer)
    except UnknownCustomer:
        return await _page(request, user, lang, error=say(lang, "privacy_unknown", query=customer), status=404)
    counts = {"conversations": str(len(done.conversations)), "messages": str(done.messages), "files": str(len(done.media_ids))}
    return back_to("/admin/privacy", lang, done="erased", **counts)


@pages.post("/admin/privacy/retention")
async def retention_form(request: Request, user: AdminUser) -> Response:
    """The retention period: a number of days, or empty to keep everything (audited by ``set_retention``)."""
    form = await read_form(request)
    lang = page_language(request, form)
    text = field(form, "days")
    try:
        if text and not (text.isascii() and text.isdigit() and len(text) <= 6):
            raise InvalidRetention()
        async with app_state(request).desk.unit_of_work() as session:
            await set_retention(session, int(text) if text else None, actor=user, client=AuditClient.of(request))
    except InvalidRetention:
        error = say(lang, "privacy_bad_retention", max=MAX_RETENTION_DAYS)
        return await _page(request, user, lang, error=error, status=422)
    return back_to("/admin/privacy", lang, done="retention")
