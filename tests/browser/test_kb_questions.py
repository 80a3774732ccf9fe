"""The editors' candidate questions page in Chromium, on a 390 px phone and a 1280 px desktop, in
the browser's language: an editor goes there from the knowledge-base editor, finds the question a
customer chose an article for, approves it — the bot answers it at once — and rejects another;
axe-core finds no serious problem on the page."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from hub.operations import add_user
from tests.browser.test_a11y import described
from tests.browser.test_admin_pages import VIEWPORTS, fits_the_screen, log_in
from tests.browser.test_widget import browser  # noqa: F401 - the module's Chromium fixture
from tests.kb_index.learning_chats import chosen_chat, confirmed_chat
from tests.support import RunningHub, hub_settings, start_hub
from tools.axe import AxeUnavailable, axe_violations, blocking, ensure_axe

pytestmark = [pytest.mark.browser]
EDITOR = ("lia@loja.test", "lia-password-1")
# What each language's editor sees (written here, not read from the page's table).
WORDS = {
    "pt-BR": {
        "link": "Perguntas para aprender",
        "approve": "Aprovar",
        "reject": "Rejeitar",
        "approved": "Aprovada: agora é uma pergunta alternativa do artigo.",
        "rejected": "Rejeitada: não será sugerida de novo.",
        "chosen": "o cliente escolheu entre as opções",
        "none": "Nenhuma pergunta esperando revisão.",
    },
    "pt-PT": {
        "link": "Perguntas para aprender",
        "approve": "Aprovar",
        "reject": "Rejeitar",
        "approved": "Aprovada: passa a ser uma pergunta alternativa do artigo.",
        "rejected": "Rejeitada: não voltará a ser sugerida.",
        "chosen": "o cliente escolheu entre as opções",
        "none": "Nenhuma pergunta à espera de revisão.",
    },
    "en": {
        "link": "Questions to learn",
        "approve": "Approve",
        "reject": "Reject",
        "approved": "Approved: it is now an alternative question of the article.",
        "rejected": "Rejected: it will not be suggested again.",
        "chosen": "the customer chose it among the options",
        "none": "No question is waiting for review.",
    },
}
CASES = [
    pytest.param("pt-BR", "phone", id="pt-BR-phone"),
    pytest.param("en", "desktop", id="en-desktop"),
    pytest.param("pt-PT", "phone", id="pt-PT-phone"),
    pytest.param("pt-BR", "desktop", id="pt-BR-desktop"),
]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    """A hub of this module's own (lexical search only, no Rasa) with one editor."""
    hub = start_hub(
        hub_settings(tmp_path_factory.mktemp("questions-browser"), cache_dir=index_cache, rasa_attempts=1, encoder="bm25")
    )
    asyncio.run(add_user(hub.settings, email=EDITOR[0], name="Lia", role="editor", teams=["geral"], password=EDITOR[1]))
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def axe() -> None:
    try:
        ensure_axe()
    except AxeUnavailable as e:
        pytest.skip(f"axe-core is not installable here: {e}")


@pytest.fixture
async def page(request: pytest.FixtureRequest, browser: Browser) -> AsyncIterator[Page]:
    lang, size = request.node.callspec.params["lang"], request.node.callspec.params["size"]
    # bypass_csp: axe-core is injected as a script, which the page's CSP rightly refuses otherwise.
    context = await browser.new_context(locale=lang, viewport=VIEWPORTS[size], bypass_csp=True)
    yield await context.new_page()
    await context.close()


@pytest.mark.parametrize(("lang", "size"), CASES)
async def test_an_editor_approves_a_chosen_question_and_the_bot_answers_it(
    desk: RunningHub, page: Page, axe: None, lang: str, size: str
) -> None:
    w, tag = WORDS[lang], uuid.uuid4().hex[:6]
    question = f"o dinheiro do qr code {tag} sumiu?"
    chosen_chat(desk, question, ["pagamento-pix", "prazo-de-estorno"], "pagamento-pix")
    confirmed_chat(desk, f"<i>frete</i> {tag} para o sertão?", "frete-e-frete-gratis")

    await log_in(page, f"{desk.url}/kb", *EDITOR)
    await page.get_by_role("link", name=w["link"]).click()
    await expect(page.get_by_role("heading", name=f"Balcão — {w['link']}", level=1)).to_be_visible()
    card = page.locator("li.candidate", has_text=question)
    await expect(card).to_contain_text(w["chosen"])
    await expect(card.get_by_role("link")).to_have_text("Como pagar com Pix e ganhar desconto?")
    # The customer's markup is shown as text.
    await expect(page.locator("li.candidate q", has_text=f"<i>frete</i> {tag} para o sertão?")).to_be_visible()
    await fits_the_screen(page)
    assert described(blocking(await axe_violations(page))) == []

    await card.get_by_role("button", name=w["approve"]).click()
    await expect(page.get_by_role("status")).to_have_text(w["approved"])
    await expect(page.locator("li.candidate", has_text=question)).to_have_count(0)
    answer = await (await page.request.get(f"{desk.url}/api/kb/try", params={"q": question, "lang": "pt-BR"})).json()
    assert (answer["decision"], answer["hits"][0]["id"]) == ("answer", "pagamento-pix")

    await page.locator("li.candidate", has_text=f"{tag} para o sertão").get_by_role("button", name=w["reject"]).click()
    await expect(page.get_by_role("status")).to_have_text(w["rejected"])
    await expect(page.get_by_text(w["none"])).to_be_visible()
    await fits_the_screen(page)
    assert described(blocking(await axe_violations(page))) == []
