"""Editors and agents use the knowledge-base API of two hub processes that share one database
(SQLite file, then PostgreSQL): what is published on one is answered by the other, without a
restart; bad input gets a clear error and nothing is lost."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from hub.operations import add_user
from tests.support import RunningHub, hub_settings, pg_admin, start_hub

EDU = ("edu@loja.test", "edu-password-1", "editor")
IARA = ("iara@loja.test", "iara-password-1", "editor")
ANA = ("ana@loja.test", "ana-password-1", "agent")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def hubs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, index_cache: Path
) -> Iterator[tuple[RunningHub, RunningHub]]:
    """Hub A and hub B: two processes' worth of hub (each its own index) on one database."""
    tmp = tmp_path_factory.mktemp(f"kb-{request.param}")
    name = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'shared.db'}"
    else:
        name = f"balcao_kb_{uuid.uuid4().hex[:10]}"
        asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    a = start_hub(hub_settings(tmp, cache_dir=index_cache, database_url=url))
    b = start_hub(hub_settings(tmp, cache_dir=index_cache, database_url=url))
    for email, password, role in (EDU, IARA, ANA):
        asyncio.run(
            add_user(a.settings, email=email, name=email.split("@")[0].title(), role=role, teams=["geral"], password=password)
        )
    yield a, b
    a.stop()
    b.stop()
    if name:
        asyncio.run(pg_admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


async def logged_in(hub: RunningHub, account: tuple[str, str, str]) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=hub.url, timeout=30)
    r = await client.post("/api/auth/login", json={"email": account[0], "password": account[1]})
    r.raise_for_status()
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return client


@pytest.fixture
async def edu(hubs: tuple[RunningHub, RunningHub]) -> AsyncIterator[httpx.AsyncClient]:
    """Edu, an editor, on hub A."""
    client = await logged_in(hubs[0], EDU)
    yield client
    await client.aclose()


@pytest.fixture
async def iara(hubs: tuple[RunningHub, RunningHub]) -> AsyncIterator[httpx.AsyncClient]:
    """Iara, an editor, on hub B."""
    client = await logged_in(hubs[1], IARA)
    yield client
    await client.aclose()


@pytest.fixture
async def ana(hubs: tuple[RunningHub, RunningHub]) -> AsyncIterator[httpx.AsyncClient]:
    """Ana, an agent, on hub A."""
    client = await logged_in(hubs[0], ANA)
    yield client
    await client.aclose()


def article(article_id: str, **changes: object) -> dict:
    values = {
        "id": article_id,
        "lang": "pt-BR",
        "title": "Vocês embrulham para presente?",
        "body": "Sim: no carrinho, marque **Embrulho para presente** (R$ 9,90).",
        "team": "logistica",
        "questions": ["dá pra mandar embrulhado pra presente?", "tem papel de presente?"],
        "tags": ["presente"],
    }
    values.update(changes)
    return values


_search_cookies: dict[str, httpx.Cookies] = {}  # hub URL → Ana's session there (search is for staff)


async def bot_answer(hub: RunningHub, question: str) -> dict:
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        if hub.url not in _search_cookies:
            (await client.post("/api/auth/login", json={"email": ANA[0], "password": ANA[1]})).raise_for_status()
            _search_cookies[hub.url] = client.cookies
        client.cookies = _search_cookies[hub.url]
        r = await client.get("/api/kb/search", params={"q": question, "lang": "pt-BR"})
        r.raise_for_status()
        return r.json()


async def eventually(check, what: str, timeout_s: float = 15) -> None:
    """Wait for the other process to follow the change log (its poll runs every 0.25 s)."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout_s} s")
        await asyncio.sleep(0.05)


async def test_an_article_published_on_one_hub_is_answered_by_every_hub(
    hubs: tuple[RunningHub, RunningHub], edu: httpx.AsyncClient
) -> None:
    a, b = hubs
    question = "dá pra mandar embrulhado pra presente?"
    created = await edu.post("/api/kb/articles", json=article("embrulho-para-presente"))
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "draft"
    assert all(
        h["id"] != "embrulho-para-presente" for h in (await bot_answer(a, question))["hits"]
    )  # a draft is not answered with

    published = await edu.post("/api/kb/articles/embrulho-para-presente/pt-BR/publish", json={"version": 1})
    assert published.status_code == 200, published.text
    # Hub A, where it was published, answers with it as soon as the publish returns.
    on_a = await bot_answer(a, question)
    assert (on_a["decision"], on_a["hits"][0]["id"]) == ("answer", "embrulho-para-presente")

    async def b_answers() -> bool:
        got = await bot_answer(b, question)
        return got["decision"] == "answer" and got["hits"][0]["id"] == "embrulho-para-presente"

    await eventually(b_answers, "hub B answering with the article published on hub A")

    # Unpublished on A: B stops answering with it too.
    assert (await edu.post("/api/kb/articles/embrulho-para-presente/pt-BR/unpublish", json={})).status_code == 200

    async def b_forgot() -> bool:
        return all(h["id"] != "embrulho-para-presente" for h in (await bot_answer(b, question))["hits"])

    await eventually(b_forgot, "hub B forgetting the unpublished article")


async def test_the_second_of_two_concurrent_saves_is_refused_with_who_saved_and_nothing_is_lost(
    edu: httpx.AsyncClient, iara: httpx.AsyncClient
) -> None:
    assert (await edu.post("/api/kb/articles", json=article("troca-de-voltagem"))).status_code == 201
    # Edu (on hub A) and Iara (on hub B) both opened version 1; Iara saves first.
    opened = (await edu.get("/api/kb/articles/troca-de-voltagem/pt-BR")).json()
    iara_text = {k: opened[k] for k in ("title", "team", "questions", "tags")} | {"body": "Texto da Iara.", "version": 1}
    edu_text = iara_text | {"body": "Texto do Edu."}
    assert (await iara.put("/api/kb/articles/troca-de-voltagem/pt-BR", json=iara_text)).status_code == 200

    refused = await edu.put("/api/kb/articles/troca-de-voltagem/pt-BR", json=edu_text)
    assert refused.status_code == 409
    assert "Iara saved 'troca-de-voltagem' (pt-BR) as version 2" in refused.json()["detail"]
    assert "Your text was not saved" in refused.json()["detail"]
    assert (await edu.get("/api/kb/articles/troca-de-voltagem/pt-BR")).json()["body"] == "Texto da Iara."

    saved = await edu.put("/api/kb/articles/troca-de-voltagem/pt-BR", json=edu_text | {"version": 2})
    assert (saved.status_code, saved.json()["version"], saved.json()["author"]) == (200, 3, "Edu")


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"title": ""}, "title: is missing or empty"),
        ({"body": "   "}, "body: is missing or empty"),
        ({"body": "palavra " * 3000}, "body: is longer than 20000 characters"),
        ({"lang": "fr"}, "lang: 'fr' is not one of pt-BR, pt-PT, en"),
        ({"id": "Não Pode"}, "id: use lowercase letters, digits and dashes"),
    ],
)
async def test_a_bad_article_is_refused_with_what_to_fix(edu: httpx.AsyncClient, changes: dict, detail: str) -> None:
    refused = await edu.post("/api/kb/articles", json=article("artigo-ruim", **changes))
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith(detail)
    assert (await edu.get("/api/kb/articles/artigo-ruim/pt-BR")).status_code == 404


async def test_an_id_already_used_in_a_language_is_refused(edu: httpx.AsyncClient) -> None:
    assert (await edu.post("/api/kb/articles", json=article("cartao-presente"))).status_code == 201
    again = await edu.post("/api/kb/articles", json=article("cartao-presente", title="Outro"))
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]
    assert (await edu.post("/api/kb/articles", json=article("cartao-presente", lang="en", title="Gift cards"))).status_code == 201


async def test_html_and_scripts_in_a_body_are_kept_but_shown_as_text(edu: httpx.AsyncClient) -> None:
    body = 'Atenção <script>alert("x")</script> e [clique](javascript:alert(1)) e <img src=x onerror=alert(1)>'
    assert (await edu.post("/api/kb/articles", json=article("com-html", body=body))).status_code == 201
    assert (await edu.get("/api/kb/articles/com-html/pt-BR")).json()["body"] == body
    html = (await edu.post("/api/kb/preview", json={"body": body})).json()["html"]
    assert "<script" not in html and "<img" not in html and 'href="javascript:' not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


async def test_history_shows_the_diff_and_a_revert_brings_the_old_text_back(edu: httpx.AsyncClient) -> None:
    assert (await edu.post("/api/kb/articles", json=article("horario-natal", body="Abrimos às 9h."))).status_code == 201
    edited = await edu.put(
        "/api/kb/articles/horario-natal/pt-BR",
        json={k: v for k, v in article("horario-natal", body="Abrimos às 8h.").items() if k not in ("id", "lang")}
        | {"version": 1},
    )
    assert edited.status_code == 200
    versions = (await edu.get("/api/kb/articles/horario-natal/pt-BR/versions")).json()
    assert [(v["version"], v["author"]) for v in versions] == [(2, "Edu"), (1, "Edu")]
    diff = (await edu.get("/api/kb/articles/horario-natal/pt-BR/diff", params={"from": 1, "to": 2})).text
    assert "-Abrimos às 9h." in diff and "+Abrimos às 8h." in diff
    reverted = await edu.post("/api/kb/articles/horario-natal/pt-BR/revert", json={"to": 1, "version": 2})
    assert (reverted.json()["version"], reverted.json()["body"]) == (3, "Abrimos às 9h.")
    assert (await edu.post("/api/kb/articles/horario-natal/pt-BR/revert", json={"to": 9})).status_code == 404


async def test_an_agent_suggests_but_only_editors_publish(edu: httpx.AsyncClient, ana: httpx.AsyncClient) -> None:
    suggested = await ana.post("/api/kb/articles", json=article("instalacao-de-tv"))
    assert suggested.status_code == 201
    assert (suggested.json()["status"], suggested.json()["suggested_by"]) == ("draft", "Ana")
    for refused in (
        await ana.post("/api/kb/articles/instalacao-de-tv/pt-BR/publish", json={}),
        await ana.put("/api/kb/articles/instalacao-de-tv/pt-BR", json={"version": 1, "title": "x", "body": "y"}),
        await ana.delete("/api/kb/articles/instalacao-de-tv/pt-BR"),
    ):
        assert refused.status_code == 403
        assert "editor" in refused.json()["detail"]
    waiting = (await edu.get("/api/kb/articles", params={"suggested": "true"})).json()
    assert [a["id"] for a in waiting] == ["instalacao-de-tv"]
    assert (await edu.post("/api/kb/articles/instalacao-de-tv/pt-BR/publish", json={})).json()["status"] == "published"


async def test_the_list_filters_by_language_team_status_and_words(edu: httpx.AsyncClient) -> None:
    await edu.post("/api/kb/articles", json=article("filtro-um", team="financeiro", title="Boleto vencido"))
    await edu.post("/api/kb/articles", json=article("filtro-dois", lang="en", team="financeiro", title="Expired bank slip"))
    found = (await edu.get("/api/kb/articles", params={"team": "financeiro", "status": "draft", "lang": "pt-BR"})).json()
    assert [a["id"] for a in found] == ["filtro-um"]
    assert [a["id"] for a in (await edu.get("/api/kb/articles", params={"q": "bank slip"})).json()] == ["filtro-dois"]
    starter = (await edu.get("/api/kb/articles", params={"status": "published", "lang": "en"})).json()
    assert "rastrear-pedido" in {a["id"] for a in starter}


async def test_try_it_shows_what_the_bot_would_do_and_needs_a_login(
    hubs: tuple[RunningHub, RunningHub], edu: httpx.AsyncClient
) -> None:
    tried = (await edu.get("/api/kb/try", params={"q": "como rastreio meu pedido?", "lang": "pt-BR"})).json()
    assert tried["decision"] == "answer"
    assert tried["hits"][0]["id"] == "rastrear-pedido"
    assert tried["confidence"] >= tried["t_answer"]
    async with httpx.AsyncClient(base_url=hubs[0].url) as anonymous:
        assert (await anonymous.get("/api/kb/try", params={"q": "oi"})).status_code == 401
        assert (await anonymous.get("/api/kb/unanswered/clusters")).status_code == 401
        assert (await anonymous.post("/api/kb/articles", json=article("anonimo"))).status_code in (401, 403)
        page = await anonymous.get("/kb", follow_redirects=False)
        assert (page.status_code, page.headers["location"]) == (303, "/login?next=/kb")
