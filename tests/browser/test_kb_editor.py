"""An editor writes an article on the editor page in Chromium, publishes it, and a customer asking
in the widget gets it from the real Rasa bot at once — no restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.test_widget import browser  # noqa: F401 - the module's Chromium fixture
from tests.support import RunningHub, WidgetCustomer, visitor_label

pytestmark = [pytest.mark.browser, pytest.mark.rasa]
EDITOR = ("edna@loja.test", "edna-password-1")
# An agent of this module's own: closing a console makes its agent "away" a minute later, which
# must not change the other modules' agents.
AGENT = ("tito@loja.test", "tito-password-1")
QUESTION = "posso levar meu cachorro na loja?"


@pytest.fixture(scope="module")
def editor_account(hub: RunningHub) -> tuple[str, str]:
    from hub.operations import add_user

    asyncio.run(add_user(hub.settings, email=EDITOR[0], name="Edna", role="editor", teams=[], password=EDITOR[1]))
    return EDITOR


@pytest.fixture(scope="module")
def agent_account(hub: RunningHub) -> tuple[str, str]:
    from hub.operations import add_user

    asyncio.run(add_user(hub.settings, email=AGENT[0], name="Tito", role="agent", teams=["geral"], password=AGENT[1]))
    return AGENT


@pytest.fixture
async def editor_page(hub: RunningHub, browser: Browser, editor_account: tuple[str, str]) -> AsyncIterator[Page]:
    context = await browser.new_context(locale="pt-BR")  # the page speaks the browser's language
    page = await context.new_page()
    await page.goto(f"{hub.url}/kb")
    await page.get_by_label("E-mail").fill(editor_account[0])
    await page.get_by_label("Senha / Password").fill(editor_account[1])
    await page.get_by_role("button", name="Entrar / Log in").click()
    await expect(page.get_by_role("heading", name="Balcão — base de conhecimento")).to_be_visible()
    yield page
    await context.close()


async def ask_in_the_widget(hub: RunningHub, browser: Browser, question: str) -> Page:
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{hub.url}/?lang=pt-BR")
    widget = page.locator("[data-balcao-widget]")
    await widget.get_by_role("button", name="Abrir o chat").click()
    box = widget.get_by_role("textbox", name="Escreva sua mensagem")
    await box.fill(question)
    await box.press("Enter")
    return page


async def test_an_editor_publishes_an_article_and_the_bot_answers_with_it_in_the_widget(
    hub: RunningHub, browser: Browser, editor_page: Page
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


async def test_an_agent_turns_a_reply_into_a_draft_article_from_the_console(
    hub: RunningHub, browser: Browser, agent_account: tuple[str, str], editor_page: Page
) -> None:
    customer = await WidgetCustomer(hub.url).connect()
    await customer.say("quero falar com um atendente")
    context = await browser.new_context(locale="pt-BR")
    try:
        console = await context.new_page()
        await console.goto(f"{hub.url}/console")
        email, password = agent_account
        await console.get_by_label("E-mail").fill(email)
        await console.get_by_label("Senha / Password").fill(password)
        await console.get_by_role("button", name="Entrar / Log in").click()
        await (
            console.get_by_role("list", name="Fila")
            .get_by_role("button", name=visitor_label("pt-BR", "widget", customer.customer_id))
            .click()
        )
        await console.get_by_role("button", name="Atender").click()
        await expect(console.get_by_label("Nota privada (o cliente não vê)")).not_to_be_checked(timeout=30_000)

        await customer.say("vocês consertam tela quebrada de celular?")
        history = console.get_by_role("log")
        await expect(history.locator(".msg.customer").last).to_contain_text(
            "vocês consertam tela quebrada de celular?", timeout=30_000
        )
        reply = console.get_by_role("textbox", name="Resposta")
        await reply.fill("Não consertamos, mas a assistência autorizada do fabricante troca a tela.")
        await reply.press("Enter")
        answer = history.locator(".msg.agent").last
        await expect(answer).to_contain_text("a assistência autorizada do fabricante troca a tela", timeout=30_000)
        await answer.get_by_role("button", name="Virar artigo").click()
        await expect(console.locator("#notice")).to_contain_text(
            "Rascunho criado para os editores: voces-consertam-tela-quebrada-de-celular-"
        )
        await console.get_by_role("button", name="Encerrar", exact=True).click()
        await customer.wait_for(lambda f: f.get("type") == "message" and f.get("buttons"))
    finally:
        await context.close()
        await customer.close()

    # The editor finds Tito's suggestion among the drafts, ready to review.
    await editor_page.get_by_label("só sugestões de agentes").check()
    await editor_page.get_by_role("button", name="Buscar", exact=True).click()
    suggestion = editor_page.locator("#articles li button").first
    await expect(suggestion).to_contain_text("vocês consertam tela quebrada de celular?")
    await expect(suggestion).to_contain_text("rascunho · v1 · sugerido por Tito")
    await suggestion.click()
    await expect(editor_page.get_by_label("Texto (Markdown)")).to_have_value(
        "Não consertamos, mas a assistência autorizada do fabricante troca a tela."
    )
