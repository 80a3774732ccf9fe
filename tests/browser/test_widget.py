"""The widget in a real browser (Debian's Chromium driven by Playwright), against the real desk."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.support import RunningHub, WidgetCustomer, visitor_label

pytestmark = [pytest.mark.browser, pytest.mark.rasa]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
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
    await expect(log.locator(".msg.bot").first).to_contain_text("rastrear", ignore_case=True, timeout=60_000)
    await expect(log.locator(".msg.bot").last).to_have_text("Isso resolveu sua dúvida?")
    await widget.get_by_role("button", name="Sim").click()
    await expect(log.locator(".msg.customer").last).to_have_text("Sim")
    await expect(log.locator(".msg.bot").last).to_have_text(
        "De 0 a 10, qual a chance de você recomendar a Loja Maré para um amigo?"
    )
    await expect(widget.locator(".buttons button")).to_have_count(12)  # 0 to 10, and "Pular"


async def test_markup_typed_by_a_customer_is_shown_as_text_and_survives_a_reload(hub: RunningHub, page: Page) -> None:
    await page.goto(f"{hub.url}/?lang=pt-BR")
    widget = page.locator("[data-balcao-widget]")
    await widget.get_by_role("button", name="Abrir o chat").click()
    payload = "<b>negrito</b><img src=x onerror=\"document.title='hacked'\"> oi"
    box = widget.get_by_role("textbox", name="Escreva sua mensagem")
    await box.fill(payload)
    await box.press("Enter")
    log = widget.get_by_role("log")
    await expect(log.locator(".msg.bot").first).to_be_visible(timeout=60_000)

    await page.reload()  # the conversation survives: the widget reopens with its history
    widget = page.locator("[data-balcao-widget]")
    log = widget.get_by_role("log")
    await expect(log.locator(".msg.customer").first).to_have_text(payload, timeout=60_000)
    assert await log.locator("img, b").count() == 0
    assert await page.title() != "hacked"


async def test_an_agent_takes_a_chat_in_the_console_while_the_customer_watches(
    hub: RunningHub, browser: Browser, agent_accounts: dict[str, tuple[str, str]]
) -> None:
    customer_ctx, agent_ctx = await browser.new_context(), await browser.new_context(locale="pt-BR")
    try:
        shop = await customer_ctx.new_page()
        await shop.goto(f"{hub.url}/?lang=pt-BR")
        widget = shop.locator("[data-balcao-widget]")
        await widget.get_by_role("button", name="Abrir o chat").click()
        box = widget.get_by_role("textbox", name="Escreva sua mensagem")
        await box.fill("<i>socorro</i> quero falar com um atendente")
        await box.press("Enter")
        await expect(widget.get_by_role("status")).to_contain_text("da fila", timeout=60_000)

        console = await agent_ctx.new_page()
        await console.goto(f"{hub.url}/console")
        email, password = agent_accounts["geral"]
        await console.get_by_label("E-mail").fill(email)
        await console.get_by_label("Senha / Password").fill(password)
        await console.get_by_role("button", name="Entrar / Log in").click()
        token = await shop.evaluate(f"localStorage.getItem('balcao-token:{hub.url}')")
        customer_id = WidgetCustomer(hub.url, token=token).customer_id
        queue = console.get_by_role("list", name="Fila")
        await queue.get_by_role("button", name=visitor_label("pt-BR", "widget", customer_id)).click()
        history = console.get_by_role("log")
        await expect(history.locator(".msg.customer").first).to_contain_text("<i>socorro</i> quero falar com um atendente")
        assert await history.locator("i").count() == 0

        await console.get_by_role("button", name="Atender").click()
        await expect(widget.get_by_role("status")).to_have_text("Ana entrou na conversa.", timeout=30_000)
        # the console has re-read the chat as hers: Enter now replies instead of writing a private note
        await expect(console.get_by_label("Nota privada (o cliente não vê)")).not_to_be_checked(timeout=30_000)
        reply = console.get_by_role("textbox", name="Resposta")
        await reply.fill("Oi! Sou a Ana, em que posso ajudar?")
        await reply.press("Enter")
        await expect(widget.locator(".msg.agent").last).to_contain_text("Oi! Sou a Ana, em que posso ajudar?", timeout=30_000)

        await console.get_by_role("button", name="Encerrar", exact=True).click()
        await expect(widget.locator(".msg.bot").last).to_have_text(
            "De 0 a 10, qual a chance de você recomendar a Loja Maré para um amigo?", timeout=60_000
        )
    finally:
        await customer_ctx.close()
        await agent_ctx.close()
