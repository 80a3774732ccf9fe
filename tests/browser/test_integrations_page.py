"""The integrations page in Chromium, as an admin uses it, in pt-BR, pt-PT and English (the
browser's language), on a 390 px phone and a 1280 px desktop: a token made with one scope is shown
once and opens the API, then revoked it does not; a webhook added shows its secret once; a delivery
the receiver refused is in the log as failed with the receiver's answer, and sent again from there it
is delivered; the webhook removed. No serious axe-core problem, nothing wider than the screen."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, expect

from hub.operations import add_user
from tests.browser.test_a11y import described
from tests.browser.test_admin_pages import fits_the_screen, log_in, queue_a_chat
from tests.browser.test_widget import browser  # noqa: F401 - the module's Chromium fixture
from tests.integrations.receiver import Receiver
from tests.support import RunningHub, hub_settings, start_hub
from tools.axe import AxeUnavailable, axe_violations, blocking, ensure_axe

pytestmark = [pytest.mark.browser]
ADMIN = ("lia@loja.test", "lia-password-1")
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
# What each language's admin sees (written here, not read from the page's table: the test checks the words).
WORDS = {
    "pt-BR": {
        "title": "Integrações",
        "name": "Nome (quem vai usar)",
        "scope": "Ler conversas",
        "create": "Criar token",
        "created": "Token «{name}» criado",
        "revoke": "Revogar: {name}",
        "revoked": "Token revogado: ele não abre mais a API.",
        "url": "URL que recebe os eventos (https://…)",
        "add": "Adicionar webhook",
        "secret": "Webhook adicionado: o segredo de assinatura",
        "failed": "falhou",
        "delivered": "entregue",
        "again": "Enviar de novo",
        "redelivered": "Entrega posta na fila para ser enviada de novo.",
        "remove": "Remover: {url}",
        "removed": "Webhook removido com o seu registro de entregas.",
    },
    "pt-PT": {
        "title": "Integrações",
        "name": "Nome (quem o vai usar)",
        "scope": "Ler conversas",
        "create": "Criar token",
        "created": "Token «{name}» criado",
        "revoke": "Revogar: {name}",
        "revoked": "Token revogado: já não abre a API.",
        "url": "URL que recebe os eventos (https://…)",
        "add": "Adicionar webhook",
        "secret": "Webhook adicionado: o segredo de assinatura",
        "failed": "falhou",
        "delivered": "entregue",
        "again": "Enviar de novo",
        "redelivered": "Entrega posta em fila para ser enviada de novo.",
        "remove": "Remover: {url}",
        "removed": "Webhook removido com o seu registo de entregas.",
    },
    "en": {
        "title": "Integrations",
        "name": "Name (who will use it)",
        "scope": "Read conversations",
        "create": "Create token",
        "created": "Token “{name}” created",
        "revoke": "Revoke: {name}",
        "revoked": "Token revoked: it no longer opens the API.",
        "url": "URL that receives the events (https://…)",
        "add": "Add webhook",
        "secret": "Webhook added: its signing secret",
        "failed": "failed",
        "delivered": "delivered",
        "again": "Send again",
        "redelivered": "Delivery queued to be sent again.",
        "remove": "Remove: {url}",
        "removed": "Webhook removed with its delivery log.",
    },
}
CASES = [
    pytest.param("pt-BR", "phone", id="pt-BR-phone"),
    pytest.param("pt-PT", "desktop", id="pt-PT-desktop"),
    pytest.param("en", "phone", id="en-phone"),
    pytest.param("en", "desktop", id="en-desktop"),
]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    """One admin; webhooks may go to the test's receiver on 127.0.0.1 and are tried once."""
    tmp = tmp_path_factory.mktemp("integrations-browser")
    settings = hub_settings(
        tmp,
        cache_dir=index_cache,
        rasa_attempts=1,
        encoder="bm25",
        webhooks_allow_private=True,
        webhooks_max_attempts=1,
        webhooks_poll_s=0.1,
    )
    hub = start_hub(settings)
    asyncio.run(add_user(hub.settings, email=ADMIN[0], name="Lia", role="admin", teams=["geral"], password=ADMIN[1]))
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
async def admin_page(request: pytest.FixtureRequest, browser: Browser) -> AsyncIterator[Page]:
    lang, size = request.node.callspec.params["lang"], request.node.callspec.params["size"]
    # bypass_csp: only so axe-core's script can be added; the page itself loads none inline.
    context = await browser.new_context(locale=lang, viewport=VIEWPORTS[size], bypass_csp=True)
    yield await context.new_page()
    await context.close()


async def no_serious_problem(page: Page) -> None:
    try:
        ensure_axe()
    except AxeUnavailable as e:
        pytest.skip(f"axe-core is not installable here: {e}")
    assert described(blocking(await axe_violations(page))) == []
    await fits_the_screen(page)


async def api_status(hub: RunningHub, token: str) -> int:
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        r = await client.get("/api/v1/conversations", headers={"Authorization": f"Bearer {token}"})
        return r.status_code


async def reopen_until(page: Page, hub: RunningHub, cell: Locator, text: str, timeout_s: float = 30) -> None:
    """Open the page again (as the admin would) until ``cell`` says ``text``: the worker sends in the background."""
    for _ in range(int(timeout_s * 2)):
        await page.goto(f"{hub.url}/admin/integrations")
        if await cell.count() and (await cell.inner_text()).strip() == text:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"the delivery log never said {text!r}")


@pytest.mark.parametrize(("lang", "size"), CASES)
async def test_an_admin_makes_and_revokes_a_token_and_redelivers_a_webhook(
    desk: RunningHub, receiver: Receiver, admin_page: Page, lang: str, size: str
) -> None:
    w, page = WORDS[lang], admin_page
    await log_in(page, f"{desk.url}/admin/integrations", *ADMIN)
    await expect(page.get_by_role("heading", name=w["title"], level=1)).to_be_visible()
    await expect(page.get_by_role("link", name=w["title"])).to_have_attribute("aria-current", "page")

    # A token with one scope: shown once, it opens the API.
    name = f"CRM {lang} {size}"
    await page.get_by_label(w["name"]).fill(name)
    await page.get_by_label(w["scope"]).check()
    await page.get_by_role("button", name=w["create"]).click()
    await expect(page.get_by_role("heading", name=w["created"].format(name=name))).to_be_visible()
    token = (await page.locator("#shown-secret").inner_text()).strip()
    assert token.startswith("blc_") and await api_status(desk, token) == 200
    await no_serious_problem(page)
    await page.goto(f"{desk.url}/admin/integrations")
    assert token not in await page.content(), "the token is shown once"

    # Revoked: the API refuses it.
    await page.get_by_role("button", name=w["revoke"].format(name=name)).click()
    await expect(page.get_by_role("status")).to_have_text(w["revoked"])
    assert await api_status(desk, token) == 401

    # A webhook whose receiver refuses the first delivery: failed in the log, then sent again.
    path = f"/hooks/{uuid.uuid4().hex[:8]}"
    receiver.script[path].append(500)
    await page.get_by_label(w["url"]).fill(receiver.url(path))
    await page.get_by_role("button", name=w["add"]).click()
    await expect(page.get_by_role("heading", name=w["secret"])).to_be_visible()
    assert (await page.locator("#shown-secret").inner_text()).startswith("whsec_")
    queue_a_chat(desk, "geral")
    receiver.wait_for(path, 1)
    row = page.locator("#deliveries-title + .table-scroll tbody tr").first
    await reopen_until(page, desk, row.locator(".delivery-status"), w["failed"])
    await expect(row).to_contain_text("HTTP 500")
    await no_serious_problem(page)
    await row.get_by_role("button", name=w["again"]).click()
    await expect(page.get_by_role("status")).to_have_text(w["redelivered"])
    receiver.wait_for(path, 2)
    await reopen_until(page, desk, row.locator(".delivery-status"), w["delivered"])

    await page.get_by_role("button", name=w["remove"].format(url=receiver.url(path))).click()
    await expect(page.get_by_role("status")).to_have_text(w["removed"])
    await fits_the_screen(page)
