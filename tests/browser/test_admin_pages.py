"""The admin pages in Chromium, as an admin uses them, on a 390 px phone and a 1280 px desktop, in
Brazilian Portuguese and in English (the browser's language): from the console's header to the teams
page (a team created after a refused time zone, renamed, archived with a chat in its queue; a team
articles use refused for removal) and to the people page (a person added with a one-time password that
logs in once, their role changed, password reset, deactivated; the last admin kept)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

import handoff
from hub.operations import add_user
from tests.browser.test_widget import browser  # noqa: F401 - the module's Chromium fixture
from tests.support import RunningHub, hub_settings, start_hub

pytestmark = [pytest.mark.browser]
ADMIN = ("iara@loja.test", "iara-password-1")
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
# What each language's admin sees (written here, not read from the pages' table: the test checks the words).
WORDS = {
    "pt-BR": {
        "teams": "Times",
        "people": "Pessoas",
        "console_link": "times",
        "id": "Identificador",
        "name": "Nome",
        "timezone": "Fuso horário",
        "monday_opens": "segunda: abre",
        "holidays": "Feriados (um por linha, AAAA-MM-DD)",
        "auto": "Automática",
        "pick": "Os agentes escolhem",
        "create": "Criar time",
        "bad_zone": "Nada foi alterado: O fuso horário “Europa/Atlantida” não existe",
        "created": "Time {team} criado.",
        "edit": "Editar: {name}",
        "save": "Salvar",
        "saved": "Alterações salvas.",
        "move_to": "Mover as conversas para",
        "archive": "Arquivar",
        "archived": "Time {team} arquivado; 1 conversa(s) movida(s).",
        "archived_state": "arquivado (conversas vão para Geral)",
        "delete": "Excluir",
        "in_use": "Artigos ainda passam clientes para este time",
        "email": "E-mail",
        "shown_name": "Nome mostrado aos clientes",
        "role": "Papel",
        "supervisor": "Supervisor",
        "agent": "Agente",
        "add": "Adicionar",
        "one_time": "Senha provisória de {name}",
        "manage": "Gerenciar: {name}",
        "change_role": "Mudar o papel",
        "role_changed": "Papel de {name} alterado",
        "reset": "Gerar nova senha provisória",
        "deactivate": "Desativar",
        "deactivated": "{name} desativado(a); 0 conversa(s) de volta à fila.",
        "deactivated_state": "desativado",
        "last_admin": "Esta é a última pessoa administradora ativa",
    },
    "en": {
        "teams": "Teams",
        "people": "People",
        "console_link": "teams",
        "id": "Id",
        "name": "Name",
        "timezone": "Time zone",
        "monday_opens": "Monday: opens",
        "holidays": "Holidays (one per line, YYYY-MM-DD)",
        "auto": "Automatically",
        "pick": "Agents pick them",
        "create": "Create team",
        "bad_zone": "Nothing was changed: There is no time zone “Europa/Atlantida”",
        "created": "Team {team} created.",
        "edit": "Edit: {name}",
        "save": "Save",
        "saved": "Changes saved.",
        "move_to": "Move its chats to",
        "archive": "Archive",
        "archived": "Team {team} archived; 1 chat(s) moved.",
        "archived_state": "archived (chats go to Geral)",
        "delete": "Delete",
        "in_use": "Articles still hand customers to this team",
        "email": "E-mail",
        "shown_name": "Name shown to customers",
        "role": "Role",
        "supervisor": "Supervisor",
        "agent": "Agent",
        "add": "Add",
        "one_time": "One-time password for {name}",
        "manage": "Manage: {name}",
        "change_role": "Change role",
        "role_changed": "{name}'s role changed",
        "reset": "Make a new one-time password",
        "deactivate": "Deactivate",
        "deactivated": "{name} deactivated; 0 chat(s) back in the queue.",
        "deactivated_state": "deactivated",
        "last_admin": "This is the desk's last active admin",
    },
}
CASES = [pytest.param(lang, size, id=f"{lang}-{size}") for lang in WORDS for size in VIEWPORTS]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    """A hub of this module's own (lexical search only: nobody asks the bot here) with one admin."""
    tmp = tmp_path_factory.mktemp("admin-browser")
    hub = start_hub(hub_settings(tmp, cache_dir=index_cache, rasa_attempts=1, encoder="bm25"))
    asyncio.run(add_user(hub.settings, email=ADMIN[0], name="Iara", role="admin", teams=["geral"], password=ADMIN[1]))
    yield hub
    hub.stop()


async def log_in(page: Page, url: str, email: str, password: str) -> None:
    """Open ``url``, which sends nobody to the login form, and log in there."""
    await page.goto(url)
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Senha / Password").fill(password)
    await page.get_by_role("button", name="Entrar / Log in").click()


@pytest.fixture
async def admin_page(request: pytest.FixtureRequest, desk: RunningHub, browser: Browser) -> AsyncIterator[Page]:
    lang, size = request.node.callspec.params["lang"], request.node.callspec.params["size"]
    context = await browser.new_context(locale=lang, viewport=VIEWPORTS[size])  # the pages speak the browser's language
    page = await context.new_page()
    # Nothing the admin pages load or do is refused by the CSP (no inline script or style), or fails;
    # a refused form's own 4xx answer is the page saying why, not an error.
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "/admin/" in page.url else None)
    yield page
    await context.close()
    assert [e for e in errors if not e.startswith("Failed to load resource: the server responded with a status of 4")] == []


async def fits_the_screen(page: Page) -> None:
    """Nothing is wider than the window: a phone scrolls only down (tables scroll in their own box).
    Measured once the page's stylesheets are in, as a person first sees it: a page reached by a
    form's redirect can be laid out before its own stylesheet arrives on a busy machine."""
    await page.wait_for_load_state("load")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def queue_a_chat(hub: RunningHub, team: str) -> str:
    """A widget customer handed over to ``team`` (through handoff's own functions)."""

    async def make() -> str:
        async with hub.app.state.desk.unit_of_work() as session:
            chat = await handoff.start_conversation(session, channel="widget", customer_id=uuid.uuid4().hex, language="pt-BR")
            await handoff.escalate_conversation(
                session, chat.id, team_id=team, priority=handoff.Priority.REQUEST, reason="customer_request"
            )
            return chat.id

    return hub.call(make)


@pytest.mark.parametrize(("lang", "size"), CASES)
async def test_an_admin_creates_renames_and_archives_a_team(desk: RunningHub, admin_page: Page, lang: str, size: str) -> None:
    w, page = WORDS[lang], admin_page
    team_id, name = f"loja-{uuid.uuid4().hex[:6]}", f"Loja física {lang} {size}"
    await log_in(page, f"{desk.url}/console", *ADMIN)
    await page.get_by_role("link", name=w["console_link"], exact=True).click()  # the console's header, for admins
    await expect(page.get_by_role("heading", name=w["teams"], level=1)).to_be_visible()
    await fits_the_screen(page)

    await page.get_by_label(w["id"], exact=True).fill(team_id)
    await page.get_by_label(w["name"], exact=True).fill(name)
    await page.get_by_label(w["timezone"]).fill("Europa/Atlantida")
    await page.get_by_label(w["monday_opens"]).fill("10:00")
    await page.get_by_label(w["holidays"]).fill("2026-12-25\n2027-01-01")
    await page.get_by_label(w["auto"]).check()
    await page.get_by_label("Iara").check()
    await page.get_by_role("button", name=w["create"]).click()
    await expect(page.get_by_role("alert")).to_contain_text(w["bad_zone"])
    await expect(page.get_by_label(w["name"], exact=True)).to_have_value(name)  # what was typed is kept
    await expect(page.get_by_label(w["monday_opens"])).to_have_value("10:00")
    await fits_the_screen(page)

    await page.get_by_label(w["timezone"]).fill("America/Bahia")
    await page.get_by_role("button", name=w["create"]).click()
    await expect(page.get_by_role("status")).to_have_text(w["created"].format(team=team_id))
    row = page.get_by_role("row").filter(has_text=team_id)
    await expect(row).to_contain_text(name)
    await expect(row).to_contain_text("America/Bahia")

    await page.get_by_role("link", name=w["edit"].format(name=name)).click()
    await expect(page.get_by_label(w["auto"])).to_be_checked()
    await expect(page.get_by_label("Iara")).to_be_checked()
    await page.get_by_label(w["name"], exact=True).fill(f"{name} (centro)")
    await page.get_by_label(w["pick"]).check()  # so the chat below waits in the queue (Iara is online)
    await page.get_by_role("button", name=w["save"], exact=True).click()
    await expect(page.get_by_role("status")).to_have_text(w["saved"])
    await expect(page.get_by_role("row").filter(has_text=team_id)).to_contain_text(f"{name} (centro)")

    queue_a_chat(desk, team_id)
    await page.get_by_label(w["move_to"]).select_option("geral")
    await page.get_by_role("button", name=w["archive"], exact=True).click()
    await expect(page.get_by_role("status")).to_have_text(w["archived"].format(team=team_id))
    await expect(page.get_by_role("row").filter(has_text=team_id)).to_contain_text(w["archived_state"])
    await fits_the_screen(page)

    await page.get_by_role("link", name=w["edit"].format(name="Logística")).click()
    await page.get_by_role("button", name=w["delete"], exact=True).click()
    await expect(page.get_by_role("alert")).to_contain_text(w["in_use"])
    await expect(page.get_by_role("alert")).to_contain_text("prazo-de-entrega")
    await expect(page.get_by_role("row").filter(has_text="logistica")).to_be_visible()


@pytest.mark.parametrize(("lang", "size"), CASES)
async def test_an_admin_adds_manages_and_deactivates_a_person(
    desk: RunningHub, browser: Browser, admin_page: Page, lang: str, size: str
) -> None:
    w, page = WORDS[lang], admin_page
    email, name = f"pessoa-{uuid.uuid4().hex[:6]}@loja.test", f"Rita {lang} {size}"
    await log_in(page, f"{desk.url}/admin/people", *ADMIN)
    await expect(page.get_by_role("heading", name=w["people"], level=1)).to_be_visible()
    await fits_the_screen(page)

    await page.get_by_label(w["email"]).fill(email)
    await page.get_by_label(w["shown_name"]).fill(name)
    await page.get_by_label(w["role"]).select_option(label=w["supervisor"])
    await page.get_by_label("Geral").check()
    await page.get_by_role("button", name=w["add"], exact=True).click()
    await expect(page.get_by_role("heading", name=w["one_time"].format(name=name))).to_be_visible()
    password = await page.locator("#one-time-password").inner_text()
    await expect(page.get_by_role("row").filter(has_text=email)).to_contain_text(w["supervisor"])
    await fits_the_screen(page)

    # The newcomer's first login leads to choosing their own password (the flow that exists).
    newcomer = await (await browser.new_context(locale=lang, viewport=VIEWPORTS[size])).new_page()
    await log_in(newcomer, f"{desk.url}/console", email, password)
    await expect(newcomer).to_have_url(f"{desk.url}/account/password?next=/console")
    await newcomer.context.close()

    await page.get_by_role("link", name=w["manage"].format(name=name)).click()
    await page.get_by_label(w["role"]).select_option(label=w["agent"])
    await page.get_by_role("button", name=w["change_role"]).click()
    await expect(page.get_by_role("status")).to_contain_text(w["role_changed"].format(name=name))
    await expect(page.get_by_role("row").filter(has_text=email)).to_contain_text(w["agent"])

    await page.get_by_role("button", name=w["reset"]).click()
    await expect(page.get_by_role("heading", name=w["one_time"].format(name=name))).to_be_visible()
    assert await page.locator("#one-time-password").inner_text() != password

    await page.get_by_role("button", name=w["deactivate"], exact=True).click()
    await expect(page.get_by_role("status")).to_have_text(w["deactivated"].format(name=name))
    await expect(page.get_by_role("row").filter(has_text=email)).to_contain_text(w["deactivated_state"])

    await page.get_by_role("link", name=w["manage"].format(name="Iara")).click()
    await page.get_by_label(w["role"]).select_option(label=w["agent"])
    await page.get_by_role("button", name=w["change_role"]).click()
    await expect(page.get_by_role("alert")).to_contain_text(w["last_admin"])
    await fits_the_screen(page)
