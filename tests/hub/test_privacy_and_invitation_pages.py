"""The privacy page and the people page's invitation links over HTTP, as their forms post them.
Privacy: an admin finds a customer, sees what is held, downloads the export, erases it only after
ticking the confirmation (once in the audit log: the page reuses the API's functions) and sets the
retention period; an agent may do none of it; an unknown customer is refused. Invitations: a link
works once, sets the invitee's own password and logs them in; a used, expired, replaced or unknown
link is refused with what to do. A deactivated person is reactivated."""

from __future__ import annotations

import html
import io
import re
import uuid
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from core.models import utcnow
from handoff.models import Invitation
from tests.desk.test_privacy import served_chat
from tests.hub.test_admin_pages import alert, form, logged_in
from tests.support import AgentClient, RunningHub, queueing_hub

ANA = ("ana@loja.test", "ana-password-1", "agent", ["geral"])
ADA = ("ada@loja.test", "ada-password-1", "admin", [])


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    with queueing_hub(
        "sqlite", tmp_path_factory.mktemp("privacy-page"), cache_dir=index_cache, staff=(ANA, ADA), encoder="bm25"
    ) as running:
        yield running


async def audit_actions(client: httpx.AsyncClient) -> list[str]:
    r = await client.get("/api/admin/audit", params={"limit": 50})
    r.raise_for_status()
    return [e["action"] for e in r.json()["entries"]]


async def test_an_admin_sees_exports_and_erases_a_customer_only_once_confirmed(hub: RunningHub) -> None:
    ana = await AgentClient(hub.url, ANA[0], ANA[1]).login()
    try:
        conversation_id, customer_id = await served_chat(hub, ana, "Quero trocar o tênis 42 da Joana Prado")
    finally:
        await ana.aclose()
    async with logged_in(hub, ADA[0], ADA[1]) as ada:
        page = await ada.get("/admin/privacy", params={"customer": conversation_id, "lang": "en"})
        assert page.status_code == 200
        held = re.sub(r"\s+", " ", page.text)
        assert '<th scope="row">Website (widget)</th> <td>1</td> <td>4</td>' in held  # 1 chat: customer, agent, 2 system lines
        export = re.search(r'href="(/api/admin/privacy/export\?[^"]+)"', page.text)
        assert export
        archive = await ada.get(html.unescape(export.group(1)))
        assert archive.status_code == 200
        assert "Joana Prado" in zipfile.ZipFile(io.BytesIO(archive.content)).read("customer.json").decode()

        # Without the ticked confirmation nothing is erased.
        r = await ada.post("/admin/privacy/erase", data=form(ada, customer=customer_id))
        assert r.status_code == 422
        assert "Marque a confirmação antes de apagar." in alert(r.text)
        assert (await ada.get("/admin/privacy", params={"customer": customer_id})).status_code == 200

        r = await ada.post("/admin/privacy/erase", data=form(ada, customer=customer_id, confirm="yes"))
        assert r.status_code == 303
        assert "Dados apagados: 1 conversa(s)" in (await ada.get(r.headers["location"])).text
        gone = await ada.get("/admin/privacy", params={"customer": customer_id})
        assert gone.status_code == 404 and "Nenhum cliente ou conversa corresponde" in html.unescape(alert(gone.text))
        actions = await audit_actions(ada)
        assert actions[:2] == ["customer_erase", "customer_export"]
        assert actions.count("customer_erase") == 1  # the API's function audits; the page adds nothing


async def test_an_erase_for_nobody_is_refused_with_what_to_search_by(hub: RunningHub) -> None:
    async with logged_in(hub, ADA[0], ADA[1]) as ada:
        r = await ada.post("/admin/privacy/erase", data=form(ada, customer="+5511900000000", confirm="yes"))
        assert r.status_code == 404
        assert "procure por um telefone" in html.unescape(alert(r.text))
        api = await ada.post("/api/admin/privacy/erase", json={"customer": "+5511900000000"})  # the API: the same function
        assert api.status_code == 404 and "search by a conversation id" in api.json()["detail"]
        assert "customer_erase" not in (await audit_actions(ada))[:1]


async def test_the_retention_period_is_set_turned_off_and_bad_values_refused(hub: RunningHub) -> None:
    async with logged_in(hub, ADA[0], ADA[1]) as ada:
        r = await ada.post("/admin/privacy/retention", data=form(ada, days="30"))
        assert r.status_code == 303
        assert "Conversas com mais de 30 dias são anonimizadas automaticamente." in (await ada.get("/admin/privacy")).text
        for bad in ("0", "trinta", "-5", "99999999"):
            r = await ada.post("/admin/privacy/retention", data=form(ada, days=bad))
            assert r.status_code == 422, bad
            assert "O prazo é um número inteiro de dias" in alert(r.text)
        assert "mais de 30 dias" in (await ada.get("/admin/privacy")).text  # unchanged
        assert (await ada.post("/admin/privacy/retention", data=form(ada, days=""))).status_code == 303
        assert "Desligado: todas as conversas são guardadas." in (await ada.get("/admin/privacy")).text
        assert (await audit_actions(ada))[:2] == ["retention_set", "retention_set"]


async def test_an_agent_may_not_use_the_privacy_page(hub: RunningHub) -> None:
    async with logged_in(hub, ANA[0], ANA[1]) as ana:
        assert (await ana.get("/admin/privacy")).status_code == 403
        assert (await ana.post("/admin/privacy/erase", data=form(ana, customer="x", confirm="yes"))).status_code == 403
        assert (await ana.post("/admin/privacy/retention", data=form(ana, days="1"))).status_code == 403


def token_of(page: str) -> str:
    found = re.search(r'<output id="invitation-link"[^>]*>[^<]*/invitation/([\w-]+)</output>', page)
    assert found, "the page shows no invitation link"
    return found.group(1)


async def accept(
    hub: RunningHub, token: str, password: str, again: str | None = None
) -> tuple[httpx.Response, httpx.AsyncClient]:
    """The invitee opens the link in a browser of their own and sends the form."""
    browser = httpx.AsyncClient(base_url=hub.url, timeout=30, headers={"X-Forwarded-For": f"198.51.100.{uuid.uuid4().int % 250}"})
    page = await browser.get(f"/invitation/{token}")
    if page.status_code != 200:  # refused already when opened: there is no form to send
        return page, browser
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    fields = {"csrf_token": csrf.group(1) if csrf else "", "lang": "pt-BR", "new_password": password}
    return await browser.post(f"/invitation/{token}", data=fields | {"new_password_again": again or password}), browser


async def test_an_invitation_link_sets_the_password_once_and_logs_the_invitee_in(hub: RunningHub) -> None:
    email = f"bia-{uuid.uuid4().hex[:6]}@loja.test"
    async with logged_in(hub, ADA[0], ADA[1]) as ada:
        r = await ada.post(
            "/admin/people", data=form(ada, email=email, name="Bia", role="agent", teams="geral", way_in="invitation")
        )
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        assert "Link de convite de Bia" in r.text
        token = token_of(r.text)

    refused, browser = await accept(hub, token, "bia-senha-123", "outra-senha-123")
    assert refused.status_code == 422 and "As duas senhas são diferentes" in alert(refused.text)
    await browser.aclose()
    done, browser = await accept(hub, token, "bia-senha-123")
    assert done.status_code == 303 and done.headers["location"].startswith("/console")
    me = await browser.get("/api/me")
    assert me.status_code == 200 and me.json()["email"] == email and not me.json()["must_change_password"]
    await browser.aclose()
    async with logged_in(hub, email, "bia-senha-123"):  # her own password works from now on
        pass

    again, browser = await accept(hub, token, "bia-senha-456")
    await browser.aclose()
    assert again.status_code == 410 and "já foi usado" in alert(again.text)
    unknown = await httpx.AsyncClient(base_url=hub.url).get("/invitation/nao-existe")
    assert unknown.status_code == 404 and "não é conhecido" in alert(unknown.text)


async def test_expired_and_replaced_links_are_refused(hub: RunningHub) -> None:
    email = f"caio-{uuid.uuid4().hex[:6]}@loja.test"
    async with logged_in(hub, ADA[0], ADA[1]) as ada:
        r = await ada.post("/admin/people", data=form(ada, email=email, name="Caio", role="agent", way_in="invitation"))
        first = token_of(r.text)
        user_id = int(re.search(r"manage=(\d+)[^>]*>[^<]*</a></td>\s*</tr>", r.text.split("Caio</th>")[1]).group(1))
        r = await ada.post(f"/admin/people/{user_id}/invite", data=form(ada))
        assert r.status_code == 200
        second = token_of(r.text)
        assert (await ada.get("/api/admin/audit", params={"limit": 1})).json()["entries"][0]["action"] == "user_invite"
    replaced, browser = await accept(hub, first, "caio-senha-123")
    await browser.aclose()
    assert replaced.status_code == 410 and "já foi usado" in alert(replaced.text)

    async with hub.app.state.desk.unit_of_work() as session:  # the link's hours have passed
        await session.execute(
            update(Invitation).where(Invitation.user_id == user_id).values(expires_at=utcnow() - timedelta(minutes=1))
        )
    expired, browser = await accept(hub, second, "caio-senha-123")
    await browser.aclose()
    assert expired.status_code == 410 and "expirou" in alert(expired.text)


async def test_a_deactivated_person_is_reactivated_and_logs_in_again(hub: RunningHub) -> None:
    email, password = f"dani-{uuid.uuid4().hex[:6]}@loja.test", "dani-senha-123"
    from hub.operations import add_user

    await add_user(hub.settings, email=email, name="Dani", role="agent", teams=["geral"], password=password)
    async with logged_in(hub, ADA[0], ADA[1]) as ada:
        people = (await ada.get("/admin/people")).text
        user_id = int(re.search(r"manage=(\d+)&amp;lang=pt-BR\" aria-label=\"Gerenciar: Dani\"", people).group(1))
        assert (await ada.post(f"/admin/people/{user_id}/deactivate", data=form(ada))).status_code == 303
        with pytest.raises(httpx.HTTPStatusError):
            async with logged_in(hub, email, password):
                pass
        r = await ada.post(f"/admin/people/{user_id}/reactivate", data=form(ada))
        assert r.status_code == 303
        assert "Dani reativado(a)." in (await ada.get(r.headers["location"])).text
    async with logged_in(hub, email, password):
        pass
