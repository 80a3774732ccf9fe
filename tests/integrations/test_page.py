"""The integrations page over HTTP, as a browser's forms post it: only admins reach it, a form
without the session's CSRF token changes nothing, a refused form says why in the reader's language
with nothing changed, and what an admin typed is shown as text, never as markup."""

from __future__ import annotations

import httpx

from core.http import hub_client
from tests.support import RunningHub


async def test_only_admins_reach_the_page(desk: RunningHub, agent: httpx.AsyncClient) -> None:
    async with hub_client(base_url=desk.url, timeout=30) as anonymous:
        r = await anonymous.get("/admin/integrations")
        assert r.status_code in (302, 303, 307) and "/login" in r.headers["location"]
    assert (await agent.get("/admin/integrations")).status_code == 403
    r = await agent.post("/admin/integrations/tokens", data={"name": "x", "scopes": "conversations:read"})
    assert r.status_code == 403


async def test_refusals_say_why_and_change_nothing(admin: httpx.AsyncClient) -> None:
    csrf = admin.headers["X-CSRF-Token"]
    before = (await admin.get("/api/admin/integrations/tokens")).json()
    r = await admin.post("/admin/integrations/tokens", data={"name": "sem csrf", "scopes": "conversations:read"})
    assert r.status_code == 403
    r = await admin.post("/admin/integrations/tokens", data={"csrf_token": csrf, "lang": "pt-BR", "name": "ERP"})
    assert r.status_code == 422 and "escolha ao menos uma permissão" in r.text
    r = await admin.post(
        "/admin/integrations/webhooks",
        data={"csrf_token": csrf, "lang": "en", "url": "ftp://x/", "events": "conversation.queued"},
    )
    assert r.status_code == 422 and "give an http:// or https:// URL" in r.text
    assert (await admin.get("/api/admin/integrations/tokens")).json() == before
    r = await admin.post("/admin/integrations/tokens/999999/revoke", data={"csrf_token": csrf, "lang": "pt-PT"})
    assert r.status_code == 404 and "esse token não existe" in r.text


async def test_what_an_admin_typed_is_shown_as_text(admin: httpx.AsyncClient) -> None:
    csrf = admin.headers["X-CSRF-Token"]
    name = '<img src=x onerror="alert(1)">'
    r = await admin.post(
        "/admin/integrations/tokens", data={"csrf_token": csrf, "lang": "en", "name": name, "scopes": "surveys:read"}
    )
    assert r.status_code == 201
    assert name not in r.text and "&lt;img src=x onerror=" in r.text
    shown = r.text.split('id="shown-secret"', 1)[1].split("</output>", 1)[0]
    assert "blc_" in shown
    page = await admin.get("/admin/integrations", params={"lang": "en"})
    assert shown.split(">", 1)[1].strip() not in page.text, "the token is shown once"
