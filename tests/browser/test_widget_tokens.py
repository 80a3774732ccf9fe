"""The widget's token in a real browser: never in a URL, refreshed so a returning visitor keeps
their conversation, and replaced by a new chat once it has expired."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect

from connectors.widget import WidgetTokens
from tests.browser.test_widget import ARGS, CHROMIUM
from tests.support import RunningHub, WidgetCustomer, hub_settings, start_hub

pytestmark = pytest.mark.browser
HOUR = 3600


@pytest.fixture
async def tab() -> AsyncIterator[Page]:
    """A page of a fresh Chromium profile (nothing stored from other tests)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield await browser.new_page()
        await browser.close()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    """A hub with no Rasa behind it: a customer's message is handed to a person."""
    hub = start_hub(hub_settings(tmp_path_factory.mktemp("widget-tokens"), cache_dir=index_cache, rasa_attempts=1))
    yield hub
    hub.stop()


async def customer_with_a_chat(hub: RunningHub, *, hours_ago: float, text: str) -> tuple[str, str]:
    """A customer whose token was issued ``hours_ago`` and who asked for a person: (id, that token)."""
    customer_id, token = WidgetTokens(hub.settings.widget_secret, clock=lambda: time.time() - hours_ago * HOUR).issue()
    if hours_ago < 24:
        customer = await WidgetCustomer(hub.url, token=token).connect()
    else:  # already expired: their chat happened while the token was young
        customer = await WidgetCustomer(hub.url, token=WidgetTokens(hub.settings.widget_secret).issue(customer_id)[1]).connect()
    await customer.say(text)
    await customer.close()
    return customer_id, token


async def open_shop_with(page: Page, hub: RunningHub, token: str) -> list[str]:
    """Open the shop's page with ``token`` stored by an earlier visit; returns the WebSocket URLs."""
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    await page.add_init_script(f"localStorage.setItem('balcao-token:{hub.url}', {token!r})")
    await page.goto(f"{hub.url}/?lang=pt-BR")  # a stored token reopens the chat by itself
    return sockets


async def stored_customer(page: Page, hub: RunningHub) -> tuple[str, str]:
    token = await page.evaluate(f"localStorage.getItem('balcao-token:{hub.url}')")
    return WidgetCustomer(hub.url, token=token).customer_id, token


async def test_a_returning_visitor_keeps_the_conversation_and_the_token_stays_out_of_urls(shop: RunningHub, tab: Page) -> None:
    customer_id, old = await customer_with_a_chat(shop, hours_ago=23, text="quero falar com uma pessoa sobre o pedido 4471")
    sockets = await open_shop_with(tab, shop, old)
    log = tab.locator("[data-balcao-widget]").get_by_role("log")
    await expect(log.locator(".msg.customer").first).to_have_text(
        "quero falar com uma pessoa sobre o pedido 4471", timeout=30_000
    )
    refreshed_id, refreshed = await stored_customer(tab, shop)
    assert refreshed_id == customer_id and refreshed != old  # a fresh day ahead for the same customer
    assert sockets and all("token" not in url for url in sockets)


async def test_a_visitor_whose_token_expired_starts_a_new_chat(shop: RunningHub, tab: Page) -> None:
    customer_id, expired = await customer_with_a_chat(shop, hours_ago=25, text="meu pedido 5512 não chegou")
    await open_shop_with(tab, shop, expired)
    widget = tab.locator("[data-balcao-widget]")
    box = widget.get_by_role("textbox", name="Escreva sua mensagem")
    await box.fill("olá de novo")
    await box.press("Enter")
    log = widget.get_by_role("log")
    await expect(log.locator(".msg.system").first).to_be_visible(timeout=30_000)  # the desk answered
    await expect(log.locator(".msg.customer")).to_have_text(["olá de novo"])  # not the old chat
    new_id, _ = await stored_customer(tab, shop)
    assert new_id != customer_id
