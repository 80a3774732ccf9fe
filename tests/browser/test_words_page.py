"""The company's-words page in Chromium, on a 390 px phone and a 1280 px desktop, in Brazilian
Portuguese and in English (the browser's language): an admin reaches it from the console's header,
a colour that is not one is refused with the reason, then the company's name, the greeting and the
colour are saved, and a customer who opens the widget right after sees them (the greeting's markup
shown as text), without a restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from hub.operations import add_user
from tests.browser.test_admin_pages import VIEWPORTS, fits_the_screen, log_in
from tests.browser.test_widget import browser  # noqa: F401 - the module's Chromium fixture
from tests.support import RunningHub, hub_settings, start_hub

pytestmark = [pytest.mark.browser]
ADMIN = ("rui@loja.test", "rui-password-1")
# What each language's admin and customer see (written here, not read from the pages' tables).
WORDS = {
    "pt-BR": {
        "console_link": "palavras da empresa",
        "title": "Palavras da empresa",
        "company": "Nome da empresa",
        "colour": "Cor do widget",
        "greeting": "Português (Brasil)",
        "save": "Salvar",
        "bad_colour": "Nada foi alterado: «verde» não é uma cor: use #RRGGBB",
        "saved": "Palavras da empresa salvas: clientes já veem as novas.",
        "open": "Abrir o chat",
        "widget_title": "Atendimento",
    },
    "en": {
        "console_link": "company's words",
        "title": "Company's words",
        "company": "Company name",
        "colour": "Widget colour",
        "greeting": "English",
        "save": "Save",
        "bad_colour": "Nothing was changed: “verde” is not a colour: give it as #RRGGBB",
        "saved": "Company's words saved: customers see the new ones now.",
        "open": "Open chat",
        "widget_title": "Support",
    },
}
CASES = [pytest.param(lang, size, id=f"{lang}-{size}") for lang in WORDS for size in VIEWPORTS]
COLOURS = {"phone": ("#7a1f5c", "rgb(122, 31, 92)"), "desktop": ("#1d4e89", "rgb(29, 78, 137)")}


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    """A hub of this module's own (lexical search only: nobody asks the bot here) with one admin."""
    hub = start_hub(
        hub_settings(tmp_path_factory.mktemp("words-browser"), cache_dir=index_cache, rasa_attempts=1, encoder="bm25")
    )
    asyncio.run(add_user(hub.settings, email=ADMIN[0], name="Rui", role="admin", teams=["geral"], password=ADMIN[1]))
    yield hub
    hub.stop()


@pytest.fixture
async def pages(request: pytest.FixtureRequest, browser: Browser) -> AsyncIterator[tuple[Page, Page]]:
    """The admin's page and a customer's, each in its own browser, both in the case's language and size."""
    lang, size = request.node.callspec.params["lang"], request.node.callspec.params["size"]
    contexts = [await browser.new_context(locale=lang, viewport=VIEWPORTS[size]) for _ in range(2)]
    yield await contexts[0].new_page(), await contexts[1].new_page()
    for context in contexts:
        await context.close()


@pytest.mark.parametrize(("lang", "size"), CASES)
async def test_an_admin_changes_the_words_and_a_customer_sees_them_at_once(
    desk: RunningHub, pages: tuple[Page, Page], lang: str, size: str
) -> None:
    w, (admin, customer) = WORDS[lang], pages
    company, (colour, rgb) = f"Padaria {uuid.uuid4().hex[:4]}", COLOURS[size]
    greeting = f"Bem-vindo à {{company}}! <b>{size}</b>"
    await log_in(admin, f"{desk.url}/console", *ADMIN)
    await admin.get_by_role("link", name=w["console_link"], exact=True).click()
    await expect(admin.get_by_role("heading", name=w["title"], level=1)).to_be_visible()
    await fits_the_screen(admin)

    await admin.get_by_label(w["company"]).fill(company)
    greeting_box = admin.locator(f"#words-greeting-{lang}")
    await expect(greeting_box).to_have_accessible_name(w["greeting"])
    await greeting_box.fill(greeting)
    await admin.get_by_label(w["colour"]).fill("verde")
    await admin.get_by_role("button", name=w["save"]).click()
    await expect(admin.get_by_role("alert")).to_contain_text(w["bad_colour"])
    await expect(admin.get_by_label(w["company"])).to_have_value(company)  # what was typed is kept
    await expect(greeting_box).to_have_value(greeting)
    await fits_the_screen(admin)

    await admin.get_by_label(w["colour"]).fill(colour)
    await admin.get_by_role("button", name=w["save"]).click()
    await expect(admin.get_by_role("status")).to_have_text(w["saved"])
    await expect(admin.get_by_label(w["company"])).to_have_value(company)

    await customer.goto(f"{desk.url}/")  # the demo shop's page, naming no language: the browser's
    widget = customer.locator("[data-balcao-widget]")
    await widget.get_by_role("button", name=w["open"]).click()
    await expect(widget.locator(".greeting")).to_have_text(f"Bem-vindo à {company}! <b>{size}</b>")  # markup as text
    await expect(widget.get_by_role("dialog", name=f"{w['widget_title']} · {company}")).to_be_visible()
    assert await widget.locator("header").evaluate("el => getComputedStyle(el).backgroundColor") == rgb
    await fits_the_screen(customer)
