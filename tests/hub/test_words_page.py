"""The company's-words page (``/admin/settings``) over HTTP, as a browser's form posts it: only
admins reach it, bad input is a 422 whose page says what to correct with nothing changed, a change
is audited and the next widget page opened gets it (language offered, greeting, name, colour)."""

from __future__ import annotations

import asyncio
import html
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

import handoff
from hub.operations import add_user
from tests.hub.test_admin_pages import ADMIN, alert, audit, form, logged_in, new_account
from tests.support import RunningHub, WidgetCustomer, hub_settings, start_hub


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    tmp = tmp_path_factory.mktemp("words-page")
    settings = hub_settings(tmp, cache_dir=index_cache, trusted_proxies=["127.0.0.1"], rasa_attempts=1, encoder="bm25")
    hub = start_hub(settings)
    asyncio.run(add_user(hub.settings, email=ADMIN[0], name="Ada", role="admin", teams=[], password=ADMIN[1]))
    yield hub
    hub.stop()


@pytest.fixture
async def admin(desk: RunningHub) -> AsyncIterator[httpx.AsyncClient]:
    async with logged_in(desk, *ADMIN) as client:
        yield client


def words_form(client: httpx.AsyncClient, **changes: object) -> dict:
    """The settings form as an admin leaves it: every language offered, the rest typed over."""
    fields: dict[str, object] = {
        "company_name": "Padaria Aurora",
        "bot_name": "Lia",
        "widget_color": "#7a1f5c",
        "languages": ["pt-BR", "pt-PT", "en"],
        "greeting_en": "Welcome to {company}! {bot} here.",
    }
    return form(client, **{**fields, **changes})


async def words_page(client: httpx.AsyncClient) -> str:
    r = await client.get("/admin/settings", params={"lang": "pt-BR"})
    assert r.status_code == 200
    return r.text


async def test_only_admins_reach_the_words_page(desk: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=desk.url) as nobody:
        r = await nobody.get("/admin/settings")
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/admin/settings"
    for role in ("agent", "supervisor", "editor"):
        async with logged_in(desk, *await new_account(desk, role)) as client:
            assert (await client.get("/admin/settings")).status_code == 403
            posted = await client.post("/admin/settings", data=words_form(client, company_name=f"Tomada {role}"))
            assert posted.status_code == 403
    async with logged_in(desk, *ADMIN) as client:
        assert "Tomada" not in await words_page(client)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"widget_color": "verde"}, "«verde» não é uma cor: use #RRGGBB"),
        ({"widget_color": "#12345"}, "«#12345» não é uma cor"),
        ({"languages": []}, "ofereça pelo menos um idioma"),
        ({"languages": ["pt-BR", "fr"]}, "o balcão não fala fr"),
        ({"company_name": "P" * 81}, "«Nome da empresa» passa de 80 caracteres"),
        ({"greeting_en": "x" * 501}, "«Saudação do widget» passa de 500 caracteres"),
        ({"out_of_hours_pt-BR": "y" * 5000}, "«Aviso fora do horário» passa de 500 caracteres"),
    ],
)
async def test_a_refused_change_says_why_and_changes_nothing(admin: httpx.AsyncClient, changes: dict, says: str) -> None:
    before = await words_page(admin)
    # a good colour and a new name beside the bad field: neither may be saved
    r = await admin.post("/admin/settings", data=words_form(admin, **{"company_name": "Meio Salva", **changes}))
    assert r.status_code == 422
    assert says in html.unescape(alert(r.text))
    assert await words_page(admin) == before


async def test_a_change_is_audited_and_the_next_widget_page_gets_it(admin: httpx.AsyncClient, desk: RunningHub) -> None:
    r = await admin.post("/admin/settings", data=words_form(admin, languages=["en", "pt-PT"]))
    assert r.status_code == 303
    assert "Palavras da empresa salvas" in (await admin.get(r.headers["location"])).text
    entry = (await audit(admin, "words_change"))[0]
    assert (entry["actor"], entry["details"]["company_name"][1], entry["details"]["languages"][1]) == (
        ADMIN[0],
        "Padaria Aurora",
        ["pt-PT", "en"],
    )

    customer = await WidgetCustomer(desk.url, lang="pt-BR").connect()  # Brazilian Portuguese is not offered now
    await customer.close()
    setup = customer.history or {}
    assert (setup["lang"], setup["company"], setup["color"]) == ("pt-PT", "Padaria Aurora", "#7a1f5c")
    assert setup["texts"]["greeting"] == "Olá! Sou Lia, assistente virtual da Padaria Aurora. Em que posso ajudar? " + (
        "Escreva a sua pergunta ou peça para falar com uma pessoa."
    )
    english = await WidgetCustomer(desk.url, lang="en").connect()
    await english.close()
    assert (english.history or {})["texts"]["greeting"] == "Welcome to Padaria Aurora! Lia here."

    # emptied, each setting is back to its default: every language, no colour of the desk's own
    fields = {"company_name": "", "bot_name": "", "widget_color": "", "languages": ["pt-BR", "pt-PT", "en"], "greeting_en": ""}
    assert (await admin.post("/admin/settings", data=form(admin, **fields))).status_code == 303
    again = await WidgetCustomer(desk.url, lang="pt-BR").connect()
    await again.close()
    assert ((again.history or {})["lang"], (again.history or {})["color"]) == ("pt-BR", None)
    assert "Loja Maré" in (again.history or {})["texts"]["greeting"]


async def test_the_bot_uses_the_new_out_of_hours_and_survey_wordings(admin: httpx.AsyncClient, desk: RunningHub) -> None:
    fields = {
        "out_of_hours_en": "We are closed; back {when}. {company} thanks you.",
        "survey_question_en": "0-10: would you recommend {company}?",
        "company_name": "Padaria Aurora",
    }
    assert (await admin.post("/admin/settings", data=words_form(admin, **fields))).status_code == 303
    the_desk = desk.app.state.desk

    async def closed_team_notice() -> str:
        async with the_desk.unit_of_work() as session:
            team = await handoff.create_team(
                session, f"noite-{uuid.uuid4().hex[:6]}", name="Noite", hours={"sun": ["00:00", "00:01"]}
            )
            chat = await handoff.start_conversation(session, channel="widget", customer_id=uuid.uuid4().hex, language="en")
            await handoff.escalate_conversation(
                session, chat.id, team_id=team.id, priority=handoff.Priority.REQUEST, reason="customer_request"
            )
        await the_desk.queues.announce(chat.id)
        async with the_desk.sessions() as session:
            history = await handoff.conversation_history(session, chat.id, include_notes=False)
        return history[-1].text

    notice = desk.call(closed_team_notice)
    assert notice.startswith("We are closed; back Sunday") and notice.endswith(". Padaria Aurora thanks you.")

    async def survey_question() -> str:
        await the_desk.words.fresh()  # as a customer's turn does before Rasa asks
        return the_desk.survey_text("score", "en")

    assert desk.call(survey_question) == "0-10: would you recommend Padaria Aurora?"
