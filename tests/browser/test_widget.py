"""The widget in a real browser (Debian's Chromium driven by Playwright), against the real desk."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.support import RunningHub

pytestmark = [pytest.mark.browser, pytest.mark.rasa]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    page = await context.new_page()
    yield page
    await context.close()


async def test_a_customer_asks_in_the_widget_and_taps_an_answer_button(hub: RunningHub, page: Page) -> None:
    await page.goto(f"{hub.url}/?lang=pt-BR")
    widget = page.locator("[data-balcao-widget]")
    await widget.get_by_role("button", name="Abrir o chat").click()
    box = widget.get_by_role("textbox", name="Escreva sua mensagem")
    await box.fill("como faço para rastrear meu pedido?")
    await box.press("Enter")

    log = widget.get_by_role("log")
    await expect(log.locator(".msg.bot").first).to_contain_text("rastrear", ignore_case=True, timeout=20_000)
    await expect(log.locator(".msg.bot").last).to_have_text("Isso resolveu sua dúvida?")
    await widget.get_by_role("button", name="Sim").click()
    await expect(log.locator(".msg.customer").last).to_have_text("Sim")
    await expect(log.locator(".msg.bot").last).to_have_text("De 0 a 10, qual a chance de você nos recomendar para um amigo?")
    await expect(widget.locator(".buttons button")).to_have_count(11)


async def test_markup_typed_by_a_customer_is_shown_as_text_and_survives_a_reload(hub: RunningHub, page: Page) -> None:
    await page.goto(f"{hub.url}/?lang=pt-BR")
    widget = page.locator("[data-balcao-widget]")
    await widget.get_by_role("button", name="Abrir o chat").click()
    payload = "<b>negrito</b><img src=x onerror=\"document.title='hacked'\"> oi"
    box = widget.get_by_role("textbox", name="Escreva sua mensagem")
    await box.fill(payload)
    await box.press("Enter")
    log = widget.get_by_role("log")
    await expect(log.locator(".msg.bot").first).to_be_visible(timeout=20_000)

    await page.reload()  # the conversation survives: the widget reopens with its history
    widget = page.locator("[data-balcao-widget]")
    log = widget.get_by_role("log")
    await expect(log.locator(".msg.customer").first).to_have_text(payload, timeout=20_000)
    assert await log.locator("img, b").count() == 0
    assert await page.title() != "hacked"
