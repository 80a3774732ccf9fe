"""The agents' console in Chromium, at a phone's (390 × 844), a tablet's and a laptop's size, against
the real desk: a customer who asked for a person is read and answered from the queue."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, Route, expect

from handoff.console_texts import TEXTS
from tests.browser.test_widget import browser  # noqa: F401 - the module's Chromium fixture
from tests.support import RunningHub, WidgetCustomer, visitor_label

pytestmark = [pytest.mark.browser, pytest.mark.rasa]
SIZES = {"phone": (390, 844), "desktop": (1280, 800)}
ACCEPT = {"pt-BR": "pt-BR,pt;q=0.9", "pt-PT": "pt-PT,pt;q=0.9", "en": "en-US,en;q=0.9"}


async def console(browser: Browser, hub: RunningHub, account: tuple[str, str], *, size: tuple[int, int], lang: str) -> Page:
    """Ana's console, logged in through the login form."""
    context = await browser.new_context(
        viewport={"width": size[0], "height": size[1]}, extra_http_headers={"Accept-Language": ACCEPT[lang]}
    )
    page = await context.new_page()
    await page.goto(f"{hub.url}/console")
    await page.get_by_label("E-mail").fill(account[0])
    await page.get_by_label("Senha / Password").fill(account[1])
    await page.get_by_role("button", name="Entrar / Log in").click()
    await expect(page.locator("#queue-title")).to_contain_text(TEXTS[lang]["queue"])
    return page


@pytest.fixture
async def waiting(hub: RunningHub) -> AsyncIterator[WidgetCustomer]:
    """A widget customer (no name given) who asked for a person: waiting in the general queue."""
    customer = await WidgetCustomer(hub.url, "pt-BR").connect()
    await customer.say("quero falar com um atendente")
    yield customer
    await customer.close()


@pytest.mark.parametrize("size", list(SIZES))
async def test_the_agent_reads_and_answers_a_waiting_customer_at_phone_and_desktop_sizes(
    hub: RunningHub, browser: Browser, agent_accounts: dict, waiting: WidgetCustomer, size: str
) -> None:
    t = TEXTS["pt-BR"]
    page = await console(browser, hub, agent_accounts["geral"], size=SIZES[size], lang="pt-BR")
    chat, lists = page.locator("#chat"), page.locator("#lists")
    # Nothing is selected: no composer, no transfer form (on a phone, only the lists show).
    await expect(page.get_by_role("textbox", name=t["reply"])).to_be_hidden()
    await expect(page.locator("#transfer-form")).to_be_hidden()
    if size == "phone":
        await expect(chat).to_be_hidden()

    # The customer is "Visitante 1234", the reason is a word, never an internal id or code.
    name = visitor_label("pt-BR", "widget", waiting.customer_id)
    entry = page.locator("#queue").get_by_role("button", name=name)
    await expect(entry).to_contain_text(t["reason_customer_request"])
    await expect(page.locator("#lists")).not_to_contain_text("w-")
    await expect(page.locator("#lists")).not_to_contain_text("customer_request")
    await entry.click()

    # The conversation takes the screen (on a phone, instead of the lists) and is wide enough to use.
    await expect(page.locator("#title")).to_have_text(name)
    await expect(page.locator("#subtitle")).to_contain_text(t["state_queued"])
    await expect(chat).to_be_visible()
    box = await chat.bounding_box()
    assert box is not None
    assert box["width"] >= (0.9 * SIZES[size][0] if size == "phone" else 600)
    if size == "phone":
        await expect(lists).to_be_hidden()

    # Ana takes it and answers; "/" lists the canned replies; /aguarde reads well without a name.
    await page.get_by_role("button", name=t["claim"]).click()
    reply = page.get_by_role("textbox", name=t["reply"])
    await expect(page.get_by_label(t["private_note"])).not_to_be_checked()
    await reply.fill("/")
    shortcuts = page.get_by_role("list", name=t["shortcuts"])
    await expect(shortcuts).to_contain_text("/aguarde")
    await expect(shortcuts).to_contain_text("/obrigado")
    await reply.fill("/aguarde")
    await reply.press("Tab")
    await expect(reply).to_have_value("Estou verificando. Só um instante.")
    await reply.press("Enter")
    sent = await waiting.wait_for(lambda f: f.get("type") == "message" and f.get("sender") == "agent")
    assert sent["text"] == "Estou verificando. Só um instante."

    # The transfer form opens on request; after the close, neither it nor the composer is left.
    await page.get_by_role("button", name=t["transfer"], exact=True).click()
    await expect(page.locator("#transfer-form")).to_be_visible()
    await page.get_by_role("button", name=t["close"], exact=True).click()
    await expect(page.locator("#subtitle")).not_to_contain_text(t["state_human"])
    await expect(reply).to_be_hidden()
    await expect(page.locator("#transfer-form")).to_be_hidden()

    if size == "phone":  # and back to the lists
        await page.get_by_role("button", name=t["back"]).click()
        await expect(lists).to_be_visible()
        await expect(chat).to_be_hidden()
    await page.context.close()


async def test_a_message_that_arrives_while_the_chat_refreshes_on_a_slow_network_stays_and_shows_once(
    hub: RunningHub, browser: Browser, agent_accounts: dict, waiting: WidgetCustomer
) -> None:
    t = TEXTS["pt-BR"]
    page = await console(browser, hub, agent_accounts["geral"], size=SIZES["desktop"], lang="pt-BR")
    name = visitor_label("pt-BR", "widget", waiting.customer_id)
    await page.locator("#queue").get_by_role("button", name=name).click()
    await page.get_by_role("button", name=t["claim"]).click()
    await expect(page.get_by_label(t["private_note"])).not_to_be_checked()

    # Ana opens the chat again; the network holds the answer, read before the customer writes.
    read, release = asyncio.Event(), asyncio.Event()

    async def slow(route: Route) -> None:
        answer = await route.fetch()
        read.set()
        await release.wait()
        await route.fulfill(response=answer)

    detail = re.compile(r"/api/agent/conversations/[^/?]+$")
    await page.route(detail, slow)
    await page.locator("#mine").get_by_role("button", name=name).click()
    await read.wait()
    await waiting.say("a tela do meu celular quebrou")
    history, said = page.get_by_role("log"), page.locator(".msg.customer").filter(has_text="a tela do meu celular quebrou")
    await expect(said).to_have_count(1)

    async with page.expect_request(lambda r: "/api/agent/canned" in r.url):  # drawn: it asks for the replies next
        release.set()  # the old answer arrives after the message: it must not wipe it
    await expect(said).to_have_count(1)
    await page.unroute(detail)
    await page.locator("#mine").get_by_role("button", name=name).click()  # a fresh answer has it: still once
    await expect(history).to_contain_text("quero falar com um atendente")
    await expect(said).to_have_count(1)
    await page.context.close()


@pytest.mark.parametrize("lang", ["pt-BR", "pt-PT", "en"])
async def test_customers_reasons_and_states_read_as_words_in_the_agents_language(
    hub: RunningHub, browser: Browser, agent_accounts: dict, waiting: WidgetCustomer, lang: str
) -> None:
    t = TEXTS[lang]
    page = await console(browser, hub, agent_accounts["geral"], size=SIZES["desktop"], lang=lang)
    entry = page.locator("#queue").get_by_role("button", name=visitor_label(lang, "widget", waiting.customer_id))
    await expect(entry).to_contain_text(t["reason_customer_request"])
    await expect(entry).to_contain_text(t["channel_widget"])
    await entry.click()
    await expect(page.locator("#subtitle")).to_contain_text(t["state_queued"])
    await expect(page.locator("#history")).to_contain_text(t["sender_customer"])
    # A tablet: the list and the chat side by side, the customer's details behind a button.
    await page.set_viewport_size({"width": 820, "height": 1180})
    await expect(page.locator("#lists")).to_be_visible()
    await expect(page.locator("#profile")).to_be_hidden()
    await page.get_by_role("button", name=t["details"]).click()
    await expect(page.locator("#profile")).to_contain_text(t["lang_pt-BR"])
    await page.context.close()


@pytest.mark.parametrize("size", list(SIZES))
async def test_the_login_form_lines_its_fields_up(hub: RunningHub, browser: Browser, size: str) -> None:
    context = await browser.new_context(viewport={"width": SIZES[size][0], "height": SIZES[size][1]})
    page = await context.new_page()
    await page.goto(f"{hub.url}/login?next=/console")
    email = await page.get_by_label("E-mail").bounding_box()
    password = await page.get_by_label("Senha / Password").bounding_box()
    button = await page.get_by_role("button", name="Entrar / Log in").bounding_box()
    assert email and password and button
    assert email["x"] == password["x"] == button["x"]
    assert email["width"] == password["width"] == button["width"]
    assert email["x"] >= 0 and email["x"] + email["width"] <= SIZES[size][0]
    await context.close()
