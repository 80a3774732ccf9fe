"""A supervisor watches the dashboard while customers go through every ending with the real Rasa
server; the page's numbers move by exactly what happened, and a detractor raises an alert."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.test_console import SIZES, console
from tests.browser.test_widget import browser  # noqa: F401 - the module's Chromium fixture
from tests.support import AgentClient, RunningHub, WidgetCustomer, bot_texts

pytestmark = [pytest.mark.browser, pytest.mark.rasa]
ENDINGS = ("resolved", "goodbye", "agent_closed", "inactivity")
SUPERVISOR = ("sofia@loja.test", "sofia-password-1")


@pytest.fixture(scope="module")
def supervisor_account(hub: RunningHub) -> tuple[str, str]:
    from hub.operations import add_user

    asyncio.run(add_user(hub.settings, email=SUPERVISOR[0], name="Sofia", role="supervisor", teams=[], password=SUPERVISOR[1]))
    return SUPERVISOR


@pytest.fixture
async def dashboard(hub: RunningHub, browser: Browser, supervisor_account: tuple[str, str]) -> AsyncIterator[Page]:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{hub.url}/dashboard")
    await page.get_by_label("E-mail").fill(supervisor_account[0])
    await page.get_by_label("Senha / Password").fill(supervisor_account[1])
    await page.get_by_role("button", name="Entrar / Log in").click()
    await expect(page.get_by_role("heading", name="Balcão — dashboard")).to_be_visible()
    yield page
    await context.close()


async def numbers(page: Page) -> dict[str, int]:
    """What the supervisor reads: conversations, surveys, complaints, queue, and surveys per ending."""
    seen = {
        "conversations": int(await page.get_by_test_id("kpi-conversations").inner_text()),
        "complaints": int(await page.get_by_test_id("kpi-complaints").inner_text()),
        "queued": int(await page.get_by_test_id("live-queued").inner_text()),
    }
    answered, asked = (await page.get_by_test_id("kpi-surveys").inner_text()).split("/")
    seen["answered"], seen["asked"] = int(answered), int(asked)
    for ending in ENDINGS:
        row = page.get_by_test_id("endings").locator(f'tr[data-ending="{ending}"] td')
        present = await row.count() > 0
        seen[f"{ending} asked"] = int(await row.nth(1).inner_text()) if present else 0
        seen[f"{ending} answered"] = int(await row.nth(2).inner_text()) if present else 0
    return seen


async def end_quiet_conversations(hub: RunningHub) -> None:
    """What the inactivity check does when its time has come."""
    hub.call(lambda: hub.app.state.desk.end_quiet_conversations(silent_for=timedelta(0)))


async def test_every_ending_is_counted_on_the_dashboard_and_a_detractor_alerts_the_supervisor(
    hub: RunningHub, dashboard: Page, agent: AgentClient
) -> None:
    # Earlier chats of this test session that are still open get their ending first, so that only
    # this story moves the numbers.
    await end_quiet_conversations(hub)
    await end_quiet_conversations(hub)
    await dashboard.reload()
    before = await numbers(dashboard)

    # Bia's question is answered; she says it solved it, gives 10 and skips the reason.
    bia = await WidgetCustomer(hub.url, "pt-BR").connect()
    survey = await bia.tap("Sim", await bia.say("como faço pra pagar com pix?"))
    assert bot_texts(survey) == ["De 0 a 10, qual a chance de você recomendar a Loja Maré para um amigo?"]
    await bia.tap("Pular", await bia.say("10"))

    # Rui says goodbye, gives 3 and says why: the supervisor's open page shows the alert.
    rui = await WidgetCustomer(hub.url, "pt-PT").connect()
    await rui.say("olá")
    assert bot_texts(await rui.say("era só isso, obrigado, adeus")) == [
        "De 0 a 10, qual a probabilidade de recomendar a Loja Maré a um amigo?"
    ]
    await rui.say("nota 3")
    await rui.say("demorou demais para responder")
    await expect(dashboard.locator("#alerts p").first).to_contain_text("Score 3", timeout=10_000)
    await expect(dashboard.locator("#alerts p").first).to_contain_text("demorou demais para responder")

    # Lucas asks for a person; Ana takes the chat and closes it; he answers "nove".
    lucas = await WidgetCustomer(hub.url, "pt-BR").connect()
    await lucas.say("me passa para um humano por favor")
    conversation_id = next(c["id"] for c in await agent.queue() if c["customer_id"] == lucas.customer_id)
    assert (await agent.claim(conversation_id)).status_code == 200
    assert (await agent.close(conversation_id)).status_code == 200
    await lucas.wait_for(lambda f: f.get("type") == "message" and f.get("buttons"))
    await lucas.tap("Pular", await lucas.say("nove"))

    # Eva asks, then goes quiet: she gets the survey, never answers, and the chat ends "no answer".
    eva = await WidgetCustomer(hub.url, "pt-BR").connect()
    await eva.say("como trocar um produto?")
    await end_quiet_conversations(hub)
    await eva.wait_for(lambda f: f.get("type") == "message" and f.get("buttons"))
    await end_quiet_conversations(hub)

    # Caio complains: his chat waits in the queue, first in line.
    caio = await WidgetCustomer(hub.url, "pt-BR").connect()
    await caio.say("vou abrir reclamação no Procon")

    await dashboard.reload()
    after = await numbers(dashboard)
    moved = {k: after[k] - before[k] for k in after}
    assert moved == {
        "conversations": 5,
        "complaints": 1,
        "queued": 1,
        "answered": 3,
        "asked": 4,
        "resolved asked": 1,
        "resolved answered": 1,
        "goodbye asked": 1,
        "goodbye answered": 1,
        "agent_closed asked": 1,
        "agent_closed answered": 1,
        "inactivity asked": 1,
        "inactivity answered": 0,
    }
    follow_ups = dashboard.get_by_test_id("follow-ups")
    await expect(follow_ups).to_contain_text("demorou demais para responder")
    for who in (bia, rui, lucas, eva, caio):
        await who.close()


async def test_an_agent_takes_a_detractors_follow_up_in_the_console_and_records_the_call(
    hub: RunningHub, browser: Browser, agent_accounts: dict[str, tuple[str, str]]
) -> None:
    # Gil ends his chat with the bot with a 0 and says why: a follow-up for someone to call him back.
    gil = await WidgetCustomer(hub.url, "en").connect()
    await gil.say("hello")
    await gil.say("that's all, bye")
    await gil.say("0")
    await gil.say("my order came <i>broken</i>")

    # Ana sees it in her console, takes it, calls Gil and records what came of it.
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{hub.url}/console?lang=en")
    await page.get_by_label("E-mail").fill(agent_accounts["geral"][0])
    await page.get_by_label("Senha / Password").fill(agent_accounts["geral"][1])
    await page.get_by_role("button", name="Entrar / Log in").click()
    await page.goto(f"{hub.url}/console?lang=en")
    task = page.locator("#follow-ups li", has_text="my order came <i>broken</i>")  # shown as written, not as HTML
    await expect(task).to_contain_text("score 0")
    await task.get_by_role("button", name="Take").click()
    await expect(task).to_contain_text("yours")
    await task.get_by_label("What came of the call back?").fill("Called Gil: a new one is on its way.")
    await task.get_by_role("button", name="Done").click()
    await expect(page.locator("#follow-ups")).not_to_contain_text("my order came")
    await context.close()
    await gil.close()


async def detractor(hub: RunningHub, reason: str) -> WidgetCustomer:
    """A European Portuguese customer who says goodbye to the bot, gives 2 and says why."""
    customer = await WidgetCustomer(hub.url, "pt-PT").connect()
    await customer.say("olá")
    await customer.say("era só isso, obrigado, adeus")
    await customer.say("2")
    await customer.say(reason)
    return customer


@pytest.mark.parametrize("size", list(SIZES))
async def test_a_portuguese_supervisor_reads_the_follow_ups_in_european_portuguese(
    hub: RunningHub, browser: Browser, supervisor_account: tuple[str, str], agent: AgentClient, size: str
) -> None:
    mine, ana_s = f"a caixa veio aberta ({size})", f"ninguém atendeu o telefone ({size})"
    customers = [await detractor(hub, mine), await detractor(hub, ana_s)]
    page = await console(browser, hub, supervisor_account, size=SIZES[size], lang="pt-PT")
    await expect(page.locator("#follow-ups-title")).to_be_visible()
    first = page.locator("#follow-ups li", has_text=mine)
    await expect(first).to_contain_text("pontuação 2 · só o robô")
    await first.get_by_role("button", name="Assumir").click()
    await expect(first).to_contain_text("consigo")
    await first.get_by_label("O que ficou combinado com o cliente?").fill("Liguei: vai uma caixa nova.")
    await first.get_by_role("button", name="Concluir").click()
    await expect(page.locator("#follow-ups")).not_to_contain_text(mine)

    # Ana takes the other one first: the supervisor's late click is refused in her words.
    second = page.locator("#follow-ups li", has_text=ana_s)
    await expect(second.get_by_role("button", name="Assumir")).to_be_visible()
    tasks = (await agent.http.get("/api/insights/follow-ups")).json()
    ana_task = next(t["id"] for t in tasks if t["reason"] == ana_s)
    assert (await agent.http.post(f"/api/insights/follow-ups/{ana_task}/claim")).status_code == 200
    await second.get_by_role("button", name="Assumir").click()
    await expect(page.locator("#follow-ups-status")).to_have_text("Outro agente já ficou com este retorno.")
    await expect(second).to_contain_text("com outro agente")
    assert (await agent.http.post(f"/api/insights/follow-ups/{ana_task}/done", json={"outcome": "feito"})).status_code == 200
    await page.context.close()
    for customer in customers:
        await customer.close()
