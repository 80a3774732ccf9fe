"""axe-core (WCAG 2.1 A/AA) finds no serious or critical problem on the admin pages added for a
company adopting the desk (canned responses, privacy, invitation links), at a phone's and a laptop's
size. Its own module: the admin pages' hub fixture (``desk``, without Rasa) would hide conftest's."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser

from tests.browser.test_a11y import SIZES, axe, described  # noqa: F401 - axe-core, the module fixture
from tests.browser.test_admin_desk_pages import queue_a_chat
from tests.browser.test_admin_pages import ADMIN, desk, log_in  # noqa: F401 - the admin pages' hub fixture
from tests.browser.test_widget import browser  # noqa: F401 - the module's Chromium fixture
from tests.support import RunningHub
from tools.axe import axe_violations, blocking

pytestmark = [pytest.mark.browser]


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
