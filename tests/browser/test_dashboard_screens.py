"""What a supervisor and an editor see, at a phone's 390 × 844 and a desktop's 1280 × 800, with the
real hub and the real Rasa bot: the dashboard in the reader's language and the desk's time zone,
readable charts and tables that fit their cards, and figures that agree with the console, the CSV
export and the editor's unanswered questions; the editor's list forgets a question once a published
article answers it, and counts customers and times in good grammar in all three languages."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

import handoff
from tests.browser.test_widget import browser  # noqa: F401 - the module's Chromium fixture
from tests.support import AgentClient, RunningHub, WidgetCustomer

pytestmark = [pytest.mark.browser, pytest.mark.rasa]
SUPERVISOR = ("lia@loja.test", "lia-password-1")
EDITOR = ("eli@loja.test", "eli-password-1")
# An admin in a team: she takes chats like an agent, so the dashboard must count and name her too.
ADMIN = ("ada@loja.test", "ada-password-1")
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
# What each language's reader sees (written out here, not read from the translation table).
SEEN = {
    "pt-BR": {
        "title": "Balcão — painel",
        "unanswered": "Perguntas sem resposta",
        "endings": "Pesquisas por encerramento",
        "widget": "Site",
    },
    "pt-PT": {
        "title": "Balcão — painel",
        "unanswered": "Perguntas sem resposta",
        "endings": "Inquéritos por encerramento",
        "widget": "Site",
    },
    "en": {
        "title": "Balcão — dashboard",
        "unanswered": "Unanswered questions",
        "endings": "Surveys by ending",
        "widget": "Website",
    },
}
# Questions nothing in the knowledge base answers, a different subject per window size (so that
# one run's article does not answer the other's question).
UNANSWERED = {"phone": "vocês consertam aquários de água salgada?", "desktop": "a loja patrocina times de futebol de várzea?"}
TO_WRITE = {"phone": "vocês dão aulas de culinária japonesa?", "desktop": "existe um clube de leitura na loja?"}
COUNTS = {
    "pt-BR": ("1 cliente · 1 vez", "2 clientes · 3 vezes"),
    "pt-PT": ("1 cliente · 1 vez", "2 clientes · 3 vezes"),
    "en": ("1 customer · 1 time", "2 customers · 3 times"),
}


@pytest.fixture(scope="module")
def accounts(hub: RunningHub) -> dict[str, tuple[str, str]]:
    from hub.operations import add_user

    for (email, password), name, role, teams in (
        (SUPERVISOR, "Lia", "supervisor", []),
        (EDITOR, "Eli", "editor", []),
        (ADMIN, "Ada", "admin", ["geral"]),
    ):
        asyncio.run(add_user(hub.settings, email=email, name=name, role=role, teams=teams, password=password))
    return {"supervisor": SUPERVISOR, "editor": EDITOR, "admin": ADMIN}


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    return request.param


async def logged_in(hub: RunningHub, browser: Browser, who: tuple[str, str], path: str, *, size: str, locale: str) -> Page:
    """A new browser (its language ``locale``, its window ``size``) logged in at ``path``."""
    context = await browser.new_context(viewport=VIEWPORTS[size], locale=locale)
    page = await context.new_page()
    await page.goto(f"{hub.url}{path}")
    await page.get_by_label("E-mail").fill(who[0])
    await page.get_by_label("Senha / Password").fill(who[1])
    await page.get_by_role("button", name="Entrar / Log in").click()
    await page.wait_for_url(f"**{path}*")
    return page


@pytest.fixture
async def contexts() -> AsyncIterator[list[BrowserContext]]:
    """Browser contexts the test opened, closed at its end."""
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        await context.close()


async def smallest_chart_label_px(page: Page) -> float:
    """The smallest label of the dashboard's charts, in CSS pixels as drawn on the screen."""
    return await page.evaluate(
        """() => Math.min(...[...document.querySelectorAll('.chart svg text')].map((t) =>
             parseFloat(getComputedStyle(t).fontSize) * t.ownerSVGElement.getScreenCTM().a))"""
    )


async def overflow(page: Page, selector: str) -> dict:
    """How far the element pokes out of its own box, and out of the window."""
    return await page.evaluate(
        """(selector) => { const e = document.querySelector(selector); const box = e.getBoundingClientRect();
             return { inside: e.scrollWidth - e.clientWidth, right: box.right - document.documentElement.clientWidth,
                      page: document.documentElement.scrollWidth - document.documentElement.clientWidth }; }""",
        selector,
    )


async def complain_and_be_taken_by_ada(hub: RunningHub) -> str:
    """A customer complains; Ada (an admin in the team) takes the chat. Returns its id."""
    customer = await WidgetCustomer(hub.url, "pt-BR").connect()
    await customer.say("vou abrir reclamação no Procon, ninguém me responde")
    ada = await AgentClient(hub.url, *ADMIN).login()
    try:
        conversation_id = next(c["id"] for c in await ada.queue() if c["customer_id"] == customer.customer_id)
        assert (await ada.claim(conversation_id)).status_code == 200
        assert (await ada.close(conversation_id)).status_code == 200  # she stays its agent
    finally:
        await ada.aclose()
        await customer.close()
    return conversation_id


async def _team_name_of(hub: RunningHub, conversation_id: str) -> str:
    async with hub.app.state.desk.sessions() as session:
        conversation = await handoff.get_conversation(session, conversation_id)
        return (await handoff.get_team(session, conversation.team_id)).name


@pytest.mark.parametrize("lang", ["pt-BR", "pt-PT", "en"])
async def test_the_dashboard_speaks_the_readers_language_in_the_desks_time_and_fits_the_screen(
    hub: RunningHub, browser: Browser, accounts: dict, contexts: list, viewport: str, lang: str
) -> None:
    conversation_id = await complain_and_be_taken_by_ada(hub)
    page = await logged_in(hub, browser, accounts["supervisor"], "/dashboard", size=viewport, locale=lang)
    contexts.append(page.context)
    seen = SEEN[lang]
    await expect(page.get_by_role("heading", level=1)).to_have_text(seen["title"])
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await expect(page.get_by_role("heading", name=seen["endings"])).to_be_visible()
    await expect(page.get_by_test_id("kpi-unanswered").locator("xpath=preceding-sibling::dt")).to_have_text(seen["unanswered"])
    await expect(page.get_by_test_id("period")).to_contain_text("America/Sao_Paulo")

    # The complaint's start: UTC in the CSV, the desk's local time on the page (the same moment).
    export = await page.request.get(f"{hub.url}/api/insights/export/complaints.csv")
    row = next(r for r in csv.DictReader(io.StringIO(await export.text())) if r["conversation_id"] == conversation_id)
    local = datetime.fromisoformat(row["started_at"]).astimezone(ZoneInfo("America/Sao_Paulo"))
    shown = local.strftime("%Y-%m-%d %H:%M") if lang == "en" else local.strftime("%d/%m/%Y %H:%M")
    complaint = page.get_by_test_id("complaints").locator(f'tr[data-conversation="{conversation_id}"] td')
    await expect(complaint.first).to_have_text(shown)
    await expect(complaint.nth(1)).to_have_text(seen["widget"])  # the channel in words, never its code
    team = hub.call(lambda: _team_name_of(hub, conversation_id))
    await expect(complaint.nth(2)).to_have_text(team)  # the team by its name, never its id
    await expect(page.get_by_test_id("complaints")).not_to_contain_text("UTC")

    # Charts drawn at a readable size, and no card or table poking out of the screen.
    assert await smallest_chart_label_px(page) >= 11.5
    endings = await overflow(page, '[data-testid="endings-card"]')
    assert endings == {"inside": 0, "right": endings["right"], "page": 0}
    assert endings["right"] <= 0
    assert (await overflow(page, "main"))["page"] == 0


async def read_console_online(page: Page, hub: RunningHub) -> int:
    """How many people the supervisor's console lists as online across the teams' overviews."""
    await page.goto(f"{hub.url}/console?lang=en")
    await expect(page.locator("#overview .team").first).to_be_visible()
    names = set()
    for line in await page.locator("#overview li").all_inner_texts():
        name, _, rest = line.partition(" — ")
        if rest.startswith("Online"):
            names.add(name)
    return len(names)


async def test_the_dashboards_figures_agree_with_the_console_the_export_and_the_editor(
    hub: RunningHub, browser: Browser, accounts: dict, agent_accounts: dict, contexts: list, viewport: str
) -> None:
    # Ada opens her console: the desk shows her available.
    ada = await logged_in(hub, browser, accounts["admin"], "/console", size=viewport, locale="pt-BR")
    contexts.append(ada.context)
    dashboard = await logged_in(hub, browser, accounts["supervisor"], "/dashboard", size=viewport, locale="en")
    contexts.append(dashboard.context)
    console = await dashboard.context.new_page()
    editor = await logged_in(hub, browser, accounts["editor"], "/kb", size=viewport, locale="en")
    contexts.append(editor.context)

    # Agents online: the same people the supervisor's console shows online (read on both sides
    # until two dashboard readings around the console's agree: presence may move meanwhile).
    for _ in range(5):
        await dashboard.reload()
        before = int(await dashboard.get_by_test_id("live-agents-online").inner_text())
        in_console = await read_console_online(console, hub)
        await dashboard.reload()
        if int(await dashboard.get_by_test_id("live-agents-online").inner_text()) == before:
            break
    assert before == in_console >= 1

    # The complaints table names the person the CSV names (an admin here), and the agent filter
    # offers the people who take chats.
    conversation_id = await complain_and_be_taken_by_ada(hub)
    await dashboard.reload()
    export = await dashboard.request.get(f"{hub.url}/api/insights/export/complaints.csv")
    row = next(r for r in csv.DictReader(io.StringIO(await export.text())) if r["conversation_id"] == conversation_id)
    assert row["agent_name"] == "Ada" and row["agent_id"]
    complaint = dashboard.get_by_test_id("complaints").locator(f'tr[data-conversation="{conversation_id}"] td')
    await expect(complaint.nth(3)).to_have_text(row["agent_name"])
    options = await dashboard.get_by_label("Agent").locator("option").all_inner_texts()
    assert options[0] == "all" and "Ada" in options and "Ana" in options

    # Unanswered questions: what new questions nothing answers add to the dashboard is what they
    # add to the editor's list.
    async def dashboard_unanswered() -> tuple[int, int]:
        await dashboard.reload()
        n, _, total = (await dashboard.get_by_test_id("kpi-unanswered-count").inner_text()).partition(" of ")
        return int(n), int(total)

    async def editor_unanswered() -> int:
        clusters = await editor.request.get(f"{hub.url}/api/kb/unanswered/clusters")
        return sum(c["count"] for c in await clusters.json())

    before_dashboard, before_editor = await dashboard_unanswered(), await editor_unanswered()
    question = UNANSWERED[viewport]
    asked = 0
    for _ in range(2):
        customer = await WidgetCustomer(hub.url, "pt-BR").connect()
        await customer.say(question)
        asked += 1
        await customer.close()
    after_dashboard, after_editor = await dashboard_unanswered(), await editor_unanswered()
    assert after_dashboard[0] - before_dashboard[0] == after_editor - before_editor == asked
    assert after_dashboard[1] - before_dashboard[1] == asked
    shown = await dashboard.get_by_test_id("kpi-unanswered").inner_text()
    assert shown == f"{after_dashboard[0] / after_dashboard[1] * 100:.1f} %"


async def test_a_published_article_takes_its_question_off_the_editors_list_counted_in_every_language(
    hub: RunningHub, browser: Browser, accounts: dict, contexts: list, viewport: str
) -> None:
    question = TO_WRITE[viewport]
    # One customer asks once; then two customers have asked three times.
    first = await WidgetCustomer(hub.url, "pt-BR").connect()
    await first.say(question)
    pages = {}
    for lang in SEEN:
        pages[lang] = await logged_in(hub, browser, accounts["editor"], "/kb", size=viewport, locale=lang)
        contexts.append(pages[lang].context)
        cluster = pages[lang].locator("#clusters li.cluster", has_text=question)
        await expect(cluster.locator(".meta")).to_have_text(f"{COUNTS[lang][0]} · pt-BR")
    second = await WidgetCustomer(hub.url, "pt-BR").connect()
    await second.say(question)
    await second.say(question)
    for lang, page in pages.items():
        await page.locator("#refresh-unanswered").click()
        cluster = page.locator("#clusters li.cluster", has_text=question)
        await expect(cluster.locator(".meta")).to_have_text(f"{COUNTS[lang][1]} · pt-BR")

    # The editor (in English) writes the article that answers it and publishes it: the question
    # leaves the list; the bot answers the next customer who asks.
    page = pages["en"]
    await page.get_by_label("Id (e.g. delivery-time)").fill(f"novidade-{viewport}")
    await page.locator("#article-form").locator("select[name=lang]").select_option("pt-BR")
    await page.get_by_label("Title", exact=True).fill(question.capitalize())
    await page.get_by_label("Alternative questions (one per line)").fill(question)
    await page.get_by_label("Text (Markdown)").fill("Sim: toda primeira sexta-feira do mês, com inscrição na loja.")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.locator("#notice")).to_have_text("Saved.")
    await page.get_by_role("button", name="Publish", exact=True).click()
    await expect(page.locator("#notice")).to_have_text("Published: the bot answers with it now.")
    await expect(page.locator("#clusters li.cluster", has_text=question)).to_have_count(0)
    third = await WidgetCustomer(hub.url, "pt-BR").connect()
    turn = await third.say(question)
    assert any("toda primeira sexta-feira do mês" in (f.get("text") or "") for f in turn)
    for customer in (first, second, third):
        await customer.close()
