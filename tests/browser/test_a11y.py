"""axe-core (WCAG 2.1 A/AA) finds no serious or critical problem on the login page, the agents'
console and the admin pages added for a company adopting the desk (canned responses, privacy,
invitation links), at a phone's and a laptop's size. bench/a11y.py checks every page the same way."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.browser.test_admin_desk_pages import queue_a_chat
from tests.browser.test_admin_pages import ADMIN, desk, log_in  # noqa: F401 - the admin pages' hub fixture
from tests.browser.test_widget import browser  # noqa: F401 - the module's Chromium fixture
from tests.support import RunningHub, WidgetCustomer
from tools.axe import AxeUnavailable, axe_violations, blocking, ensure_axe

pytestmark = [pytest.mark.browser]
SIZES = {"phone": (390, 844), "desktop": (1280, 800)}


@pytest.fixture(scope="module")
def axe() -> None:
    """axe-core installed from npm into var/node/ (skipped, saying why, where it cannot be)."""
    try:
        ensure_axe()
    except AxeUnavailable as e:
        pytest.skip(f"axe-core is not installable here: {e}")


def described(violations: list[dict]) -> list[str]:
    return [f"{v['impact']} {v['id']}: {v['help']} at {[n['target'] for n in v['nodes'][:3]]}" for v in violations]


@pytest.mark.rasa
@pytest.mark.parametrize("size", list(SIZES))
async def test_login_and_console_have_no_serious_accessibility_problem(
    hub: RunningHub, browser: Browser, agent_accounts: dict, axe: None, size: str
) -> None:
    customer = await WidgetCustomer(hub.url, "pt-BR").connect()
    await customer.say("quero falar com um atendente")
    width, height = SIZES[size]
    context = await browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
    page = await context.new_page()
    await page.goto(f"{hub.url}/login?next=/console")
    assert described(blocking(await axe_violations(page))) == []

    email, password = agent_accounts["geral"]
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Senha / Password").fill(password)
    await page.get_by_role("button", name="Entrar / Log in").click()
    await expect(page.locator("#queue button").first).to_be_visible()
    assert described(blocking(await axe_violations(page))) == []

    await page.locator("#queue button").first.click()  # an open chat, with the canned replies listed
    await expect(page.locator("#history .msg").first).to_be_visible()
    await page.locator("#text").fill("/")
    assert described(blocking(await axe_violations(page))) == []
    await context.close()
    await customer.close()


ADMIN_PAGES = (
    "/admin/canned",
    "/admin/canned?edit=1",  # a reply's form and its delete form
    "/admin/privacy?customer={chat}&erase=1",  # what is held, the export and the erase confirmation
    "/admin/people",
    "/admin/teams?edit=geral",
)


@pytest.mark.parametrize("size", list(SIZES))
async def test_the_admin_pages_have_no_serious_accessibility_problem(
    desk: RunningHub, browser: Browser, axe: None, size: str
) -> None:
    chat = queue_a_chat(desk, said="Quero trocar o tamanho")
    width, height = SIZES[size]
    context = await browser.new_context(locale="pt-BR", viewport={"width": width, "height": height}, bypass_csp=True)
    page = await context.new_page()
    await log_in(page, f"{desk.url}/admin/canned", *ADMIN)
    for path in ADMIN_PAGES:
        await page.goto(desk.url + path.format(chat=chat))
        assert described(blocking(await axe_violations(page))) == [], path

    # The people page showing a new invitation link, and the page that link opens.
    await page.goto(f"{desk.url}/admin/people")
    await page.get_by_label("E-mail").fill(f"a11y-{size}-{chat[:6]}@loja.test")
    await page.get_by_label("Nome mostrado aos clientes").fill("Axe")
    await page.locator("input[value=invitation]").check()
    await page.get_by_role("button", name="Adicionar", exact=True).click()
    assert described(blocking(await axe_violations(page))) == [], "people with an invitation link"
    link = await page.locator("#invitation-link").inner_text()
    invitee = await (await browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)).new_page()
    await invitee.goto(link)
    assert described(blocking(await axe_violations(invitee))) == [], "invitation"
    await invitee.context.close()
    await context.close()
