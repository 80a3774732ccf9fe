"""The canned responses, privacy and invitation pages in Chromium, as an admin uses them, on a
390 px phone and a 1280 px desktop, in Brazilian Portuguese and English (the browser's language):
a canned reply refused for a taken shortcut, added, found by a word of its text, edited and
deleted — and found in the console's "/" list by a word of its text; a customer found on the
privacy page, the retention period set, the data erased only after the confirmation; a person
invited by link who chooses their password and lands in the console, the link refused the second
time; a deactivated person reactivated."""

from __future__ import annotations

import uuid

import pytest
from playwright.async_api import Browser, Page, expect

import handoff
from tests.browser.test_admin_pages import (  # noqa: F401 - the module's hub and page fixtures
    ADMIN,
    CASES,
    VIEWPORTS,
    admin_page,
    desk,
    fits_the_screen,
    log_in,
)
from tests.browser.test_widget import browser  # noqa: F401 - the module's Chromium fixture
from tests.support import RunningHub

pytestmark = [pytest.mark.browser]
WORDS = {
    "pt-BR": {
        "canned": "Respostas prontas",
        "shortcut": "Atalho",
        "text": "Texto",
        "language": "Idioma da resposta",
        "team": "Para o time",
        "add": "Adicionar resposta",
        "taken": "Já existe /aguarde em pt-BR",
        "added": "Resposta /{key} adicionada.",
        "words": "Palavras do atalho ou do texto",
        "search": "Buscar",
        "edit": "Editar: /{key} (pt-BR)",
        "save": "Salvar",
        "saved": "Resposta /{key} salva.",
        "delete": "Excluir",
        "deleted": "Resposta /{key} excluída.",
        "privacy": "Privacidade (LGPD)",
        "customer": "Telefone, e-mail, Telegram ou conversa",
        "find": "Procurar cliente",
        "widget": "Site (widget)",
        "erase_link": "Apagar os dados deste cliente…",
        "erase_now": "Apagar agora",
        "confirm": "Entendo que os dados deste cliente serão apagados para sempre",
        "erased": "Dados apagados: 1 conversa(s)",
        "days": "Anonimizar conversas com mais de (dias)",
        "save_days": "Salvar o prazo",
        "days_now": "Conversas com mais de 400 dias são anonimizadas automaticamente.",
        "bad_days": "O prazo é um número inteiro de dias",
        "people": "Pessoas",
        "email": "E-mail",
        "shown_name": "Nome mostrado aos clientes",
        "invitation": "Link de convite (ela escolhe a senha; vale 72 horas, uma vez)",
        "add_person": "Adicionar",
        "link_for": "Link de convite de {name}",
        "new_password": "Nova senha",
        "again": "Nova senha de novo",
        "set": "Salvar a senha e entrar",
        "used": "Este link de convite já foi usado",
        "manage": "Gerenciar: {name}",
        "deactivate": "Desativar",
        "reactivate": "Reativar",
        "reactivated": "{name} reativado(a).",
    },
    "en": {
        "canned": "Canned responses",
        "shortcut": "Shortcut",
        "text": "Text",
        "language": "Language of the reply",
        "team": "For the team",
        "add": "Add reply",
        "taken": "/aguarde exists already in pt-BR",
        "added": "Reply /{key} added.",
        "words": "Words of the shortcut or the text",
        "search": "Search",
        "edit": "Edit: /{key} (pt-BR)",
        "save": "Save",
        "saved": "Reply /{key} saved.",
        "delete": "Delete",
        "deleted": "Reply /{key} deleted.",
        "privacy": "Privacy (GDPR / LGPD)",
        "customer": "Phone, e-mail, Telegram or conversation",
        "find": "Find customer",
        "widget": "Website (widget)",
        "erase_link": "Erase this customer's data…",
        "erase_now": "Erase now",
        "confirm": "I understand this customer's data will be erased for good",
        "erased": "Data erased: 1 conversation(s)",
        "days": "Anonymise conversations older than (days)",
        "save_days": "Save the period",
        "days_now": "Conversations older than 400 days are anonymised automatically.",
        "bad_days": "The period is a whole number of days",
        "people": "People",
        "email": "E-mail",
        "shown_name": "Name shown to customers",
        "invitation": "Invitation link (they choose their password; valid 72 hours, once)",
        "add_person": "Add",
        "link_for": "Invitation link for {name}",
        "new_password": "New password",
        "again": "New password again",
        "set": "Save the password and enter",
        "used": "This invitation link was used already",
        "manage": "Manage: {name}",
        "deactivate": "Deactivate",
        "reactivate": "Reactivate",
        "reactivated": "{name} reactivated.",
    },
}


@pytest.mark.parametrize(("lang", "size"), CASES)
async def test_an_admin_manages_canned_replies_and_an_agent_finds_one_by_its_words(
    desk: RunningHub, admin_page: Page, lang: str, size: str
) -> None:
    w, page, key = WORDS[lang], admin_page, f"troca-{uuid.uuid4().hex[:5]}"
    await log_in(page, f"{desk.url}/admin/canned", *ADMIN)
    await expect(page.get_by_role("heading", name=w["canned"], level=1)).to_be_visible()
    await fits_the_screen(page)

    await page.get_by_label(w["shortcut"], exact=True).fill("aguarde")
    await page.get_by_label(w["language"], exact=True).select_option("pt-BR")  # the chats' language
    await page.get_by_label(w["text"], exact=True).fill("Vamos trocar o tamanho, {customer_name}: é grátis.")
    await page.get_by_role("button", name=w["add"]).click()
    await expect(page.get_by_role("alert")).to_contain_text(w["taken"])
    await expect(page.get_by_label(w["text"], exact=True)).to_have_value("Vamos trocar o tamanho, {customer_name}: é grátis.")

    await page.get_by_label(w["shortcut"], exact=True).fill(key)
    await page.get_by_label(w["team"], exact=True).select_option("geral")
    await page.get_by_role("button", name=w["add"]).click()
    await expect(page.get_by_role("status")).to_have_text(w["added"].format(key=key))

    await page.get_by_label(w["words"]).fill("gratis tamanho")
    await page.get_by_role("button", name=w["search"], exact=True).click()
    await expect(page.get_by_role("row").filter(has_text=f"/{key}")).to_contain_text("Geral")
    await fits_the_screen(page)

    # Iara (an admin of Geral) opens a Geral chat: "/gratis" lists the reply by a word of its text.
    chat_id = queue_a_chat(desk)
    await page.goto(f"{desk.url}/console")
    await page.locator(f'#queue button[data-id="{chat_id}"]').click()
    reply = page.locator("#text")
    await reply.fill("/gratis")
    await expect(page.locator("#shortcuts")).to_contain_text(f"/{key}")
    await expect(page.locator("#shortcuts")).not_to_contain_text("/aguarde")
    await reply.press("Tab")
    await expect(reply).to_have_value("Vamos trocar o tamanho: é grátis.")  # no name: it goes with its comma

    await page.goto(f"{desk.url}/admin/canned?q={key}")
    await page.get_by_role("link", name=w["edit"].format(key=key)).click()
    await page.get_by_label(w["text"], exact=True).fill("Troca de tamanho feita!")
    await page.get_by_role("button", name=w["save"], exact=True).click()
    await expect(page.get_by_role("status")).to_have_text(w["saved"].format(key=key))
    await expect(page.get_by_role("row").filter(has_text=f"/{key}")).to_contain_text("Troca de tamanho feita!")

    await page.get_by_role("link", name=w["edit"].format(key=key)).click()
    await page.get_by_role("button", name=w["delete"], exact=True).click()
    await expect(page.get_by_role("status")).to_have_text(w["deleted"].format(key=key))
    await expect(page.get_by_role("row").filter(has_text=f"/{key}")).to_have_count(0)
    await fits_the_screen(page)


def queue_a_chat(hub: RunningHub, *, said: str | None = None) -> str:
    """A widget customer handed over to Geral (through handoff's own functions), who said ``said``."""

    async def make() -> str:
        async with hub.app.state.desk.unit_of_work() as session:
            chat = await handoff.start_conversation(session, channel="widget", customer_id=uuid.uuid4().hex, language="pt-BR")
            if said:
                await handoff.record_message(session, chat, sender="customer", text=said)
            await handoff.escalate_conversation(
                session, chat.id, team_id="geral", priority=handoff.Priority.REQUEST, reason="customer_request"
            )
            return chat.id

    return hub.call(make)


@pytest.mark.parametrize(("lang", "size"), CASES)
async def test_an_admin_finds_a_customer_sets_retention_and_erases_after_confirming(
    desk: RunningHub, admin_page: Page, lang: str, size: str
) -> None:
    w, page = WORDS[lang], admin_page
    chat_id = queue_a_chat(desk, said="Meu CPF é 123.456.789-00 <b>urgente</b>")
    await log_in(page, f"{desk.url}/admin/privacy", *ADMIN)
    await expect(page.get_by_role("heading", name=w["privacy"], level=1)).to_be_visible()
    await fits_the_screen(page)

    await page.get_by_label(w["days"]).fill("0")
    await page.get_by_role("button", name=w["save_days"]).click()
    await expect(page.get_by_role("alert")).to_contain_text(w["bad_days"])
    await page.get_by_label(w["days"]).fill("400")
    await page.get_by_role("button", name=w["save_days"]).click()
    await expect(page.get_by_text(w["days_now"])).to_be_visible()

    await page.get_by_label(w["customer"]).fill(chat_id)
    await page.get_by_role("button", name=w["find"]).click()
    await expect(page.get_by_role("row").filter(has_text=w["widget"])).to_contain_text("1")
    await fits_the_screen(page)
    async with page.expect_download() as download:
        await page.get_by_role("button").filter(has_text="zip").click()
    assert (await download.value).suggested_filename == "customer-data.zip"

    await page.get_by_role("link", name=w["erase_link"]).click()
    await page.get_by_label(w["confirm"]).check()
    await page.get_by_role("button", name=w["erase_now"]).click()
    await expect(page.get_by_role("status")).to_contain_text(w["erased"])
    await fits_the_screen(page)


@pytest.mark.parametrize(("lang", "size"), CASES)
async def test_a_person_invited_by_link_chooses_a_password_and_is_logged_in(
    desk: RunningHub, browser: Browser, admin_page: Page, lang: str, size: str
) -> None:
    w, page = WORDS[lang], admin_page
    email, name = f"convite-{uuid.uuid4().hex[:6]}@loja.test", f"Lia {lang} {size}"
    await log_in(page, f"{desk.url}/admin/people", *ADMIN)
    await expect(page.get_by_role("heading", name=w["people"], level=1)).to_be_visible()
    await page.get_by_label(w["email"]).fill(email)
    await page.get_by_label(w["shown_name"]).fill(name)
    await page.get_by_label(w["invitation"]).check()
    await page.get_by_role("button", name=w["add_person"], exact=True).click()
    await expect(page.get_by_role("heading", name=w["link_for"].format(name=name))).to_be_visible()
    link = await page.locator("#invitation-link").inner_text()
    await fits_the_screen(page)

    invitee = await (await browser.new_context(locale=lang, viewport=VIEWPORTS[size])).new_page()
    await invitee.goto(link)
    await fits_the_screen(invitee)
    await invitee.get_by_label(w["new_password"], exact=True).fill("lia-senha-123")
    await invitee.get_by_label(w["again"]).fill("lia-senha-123")
    await invitee.get_by_role("button", name=w["set"]).click()
    await expect(invitee).to_have_url(f"{desk.url}/console?lang={lang}")
    await invitee.goto(link)
    await expect(invitee.get_by_role("alert")).to_contain_text(w["used"])
    await invitee.context.close()

    await page.get_by_role("link", name=w["manage"].format(name=name)).click()
    await page.get_by_role("button", name=w["deactivate"], exact=True).click()
    await page.get_by_role("link", name=w["manage"].format(name=name)).click()
    await page.get_by_role("button", name=w["reactivate"], exact=True).click()
    await expect(page.get_by_role("status")).to_have_text(w["reactivated"].format(name=name))
    await fits_the_screen(page)
