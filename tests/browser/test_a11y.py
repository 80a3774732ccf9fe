"""axe-core (WCAG 2.1 A/AA) finds no serious or critical problem on the login page and the agents'
console, at a phone's and a laptop's size (the admin pages: test_a11y_admin.py). bench/a11y.py
checks every page the same way."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

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
