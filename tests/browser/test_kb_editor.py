"""An editor writes an article on the editor page in Chromium, publishes it, and a customer asking
in the widget gets it from the real Rasa bot at once — no restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.test_widget import browser  # noqa: F401 - the module's Chromium fixture
from tests.support import RunningHub

pytestmark = [pytest.mark.browser, pytest.mark.rasa]
EDITOR = ("edna@loja.test", "edna-password-1")
QUESTION = "posso levar meu cachorro na loja?"


@pytest.fixture(scope="module")
def editor_account(hub: RunningHub) -> tuple[str, str]:
    from hub.cli import add_user

    asyncio.run(add_user(hub.settings, email=EDITOR[0], name="Edna", role="editor", teams=[], password=EDITOR[1]))
    return EDITOR


@pytest.fixture
async def editor_page(hub: RunningHub, browser: Browser, editor_account: tuple[str, str]) -> AsyncIterator[Page]:  # noqa: F811
    context = await browser.new_context(locale="pt-BR")  # the page speaks the browser's language
    page = await context.new_page()
    await page.goto(f"{hub.url}/kb")
    await page.get_by_label("E-mail").fill(editor_account[0])
    await page.get_by_label("Senha / Password").fill(editor_account[1])
    await page.get_by_role("button", name="Entrar / Log in").click()
    await expect(page.get_by_role("heading", name="Balcão — base de conhecimento")).to_be_visible()
    yield page
    await context.close()


async def ask_in_the_widget(hub: RunningHub, browser: Browser, question: str) -> Page:  # noqa: F811
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{hub.url}/?lang=pt-BR")
    widget = page.locator("[data-balcao-widget]")
    await widget.get_by_role("button", name="Abrir o chat").click()
    box = widget.get_by_role("textbox", name="Escreva sua mensagem")
    await box.fill(question)
    await box.press("Enter")
    return page


async def test_an_editor_publishes_an_article_and_the_bot_answers_with_it_in_the_widget(
    hub: RunningHub, browser: Browser, editor_page: Page  # noqa: F811
) -> None:
    page = editor_page
    # Before: the bot has nothing on pets (the editor checks with "try it").
    await page.get_by_label("O que o bot responderia a…").fill(QUESTION)
    await page.get_by_role("button", name="Perguntar", exact=True).click()
    await expect(page.locator("#try-result")).to_contain_text("Decisão: passa para uma pessoa")

    await page.get_by_label("Identificador (ex.: prazo-de-entrega)").fill("animais-na-loja")
    await page.get_by_label("Título").fill("Posso levar meu animal de estimação à loja?")
    await page.get_by_label("Perguntas alternativas (uma por linha)").fill(f"{QUESTION}\na loja aceita pets?")
    await page.get_by_label("Texto (Markdown)").fill(
        "Sim! Cães e gatos são **bem-vindos** nas nossas lojas físicas, na coleira ou na caixa de transporte. <script>alert(1)</script>"
    )
    # The preview renders Markdown, and shows the script as text.
    await expect(page.locator("#preview strong")).to_have_text("bem-vindos")
    await expect(page.locator("#preview")).to_contain_text("<script>alert(1)</script>")
    await expect(page.locator("#preview script")).to_have_count(0)

    await page.get_by_role("button", name="Salvar", exact=True).click()
    await expect(page.locator("#notice")).to_have_text("Salvo.")
    await expect(page.locator("#article-state")).to_contain_text("rascunho · versão 1")
    await page.get_by_role("button", name="Publicar", exact=True).click()
    await expect(page.locator("#notice")).to_have_text("Publicado: o bot já responde com ele.")
    await expect(page.locator("#articles")).to_contain_text("animais-na-loja · pt-BR · geral · publicado · v2")

    await page.get_by_role("button", name="Perguntar", exact=True).click()
    await expect(page.locator("#try-result")).to_contain_text("Decisão: responde")
    await expect(page.locator("#try-result li").first).to_contain_text("Posso levar meu animal de estimação à loja?")

    # A customer asks in the widget: the real Rasa bot answers from the new article.
    customer = await ask_in_the_widget(hub, browser, QUESTION)
    log = customer.locator("[data-balcao-widget]").get_by_role("log")
    await expect(log.locator(".msg.bot").first).to_contain_text("Cães e gatos são", timeout=60_000)
    await expect(log.locator(".msg.bot").last).to_have_text("Isso resolveu sua dúvida?")
    await customer.context.close()

    # History: the two versions, and the diff of the publish.
    await expect(page.locator("#history li")).to_have_count(2)
    await page.locator("#history li").first.get_by_role("button", name="Diferenças", exact=True).click()
    await expect(page.locator("#diff")).to_contain_text("-status: draft")

    # Delete it again, so the rest of the session's bot knows nothing about pets.
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.get_by_role("button", name="Excluir", exact=True).click()
    await expect(page.locator("#notice")).to_have_text("Excluído.")
    await expect(page.locator("#articles")).not_to_contain_text("animais-na-loja")
