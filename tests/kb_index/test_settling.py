"""After a publication, every open unanswered question is re-run, not only the closest: a question far
down the list (older than the newest 500 a publication looks through first) leaves the editors'
list once the background re-run reaches it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

import kb_index
from hub.operations import add_user
from kb_index.settling import SETTLE_LIMIT
from tests.kb_index.test_routes import article, logged_in
from tests.support import RunningHub, hub_settings, start_hub

EDITOR = ("eva@loja.test", "eva-password-1", "editor")
FAR_DOWN = "vocês mandam embrulhado para presente com cartão escrito à mão?"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    # Lexical search: re-running 600 questions with it takes a moment, and the rule under test
    # (which questions are re-run) does not depend on the encoder.
    running = start_hub(hub_settings(tmp_path_factory.mktemp("settling"), cache_dir=index_cache, encoder="bm25"))
    asyncio.run(add_user(running.settings, email=EDITOR[0], name="Eva", role=EDITOR[2], teams=[], password=EDITOR[1]))
    yield running
    running.stop()


@pytest.fixture
async def editor(hub: RunningHub) -> AsyncIterator[httpx.AsyncClient]:
    client = await logged_in(hub, EDITOR)
    yield client
    await client.aclose()


async def listed(editor: httpx.AsyncClient) -> tuple[set[str], int]:
    """The editor's unanswered list (Portuguese): the wordings it shows, and how many times they were asked."""
    r = await editor.get("/api/kb/unanswered/clusters", params={"lang": "pt-BR"})
    r.raise_for_status()
    return {q for cluster in r.json() for q in cluster["questions"]}, sum(cluster["count"] for cluster in r.json())


def keep(hub: RunningHub, texts: list[str]) -> None:
    """The bot kept these questions (oldest first), as it keeps what it could not answer."""

    async def record() -> None:
        async with hub.app.state.desk.unit_of_work() as session:
            for text in texts:
                await kb_index.record_unanswered(
                    session, text=text, lang="pt-BR", channel="widget", decision="escalate", confidence=0.0
                )

    hub.call(record)


async def test_a_question_far_down_the_list_leaves_it_after_a_publication_that_answers_it(
    hub: RunningHub, editor: httpx.AsyncClient
) -> None:
    newer = [f"vocês consertam aquário de {n} litros?" for n in range(SETTLE_LIMIT + 100)]
    keep(hub, [FAR_DOWN, *newer])
    wordings, asked = await listed(editor)
    assert FAR_DOWN in wordings and asked == len(newer) + 1

    gift = article(
        "embrulho-com-cartao",
        title="Vocês embrulham para presente com cartão?",
        questions=["mandam embrulhado para presente com cartão escrito à mão?", "tem cartão no embrulho de presente?"],
    )
    assert (await editor.post("/api/kb/articles", json=gift)).status_code == 201
    assert (await editor.post("/api/kb/articles/embrulho-com-cartao/pt-BR/publish")).status_code == 200
    hub.call(hub.app.state.unanswered.idle)  # the background re-run, to its end

    wordings, asked = await listed(editor)
    assert FAR_DOWN not in wordings
    assert asked == len(newer)  # the article answers none of the others: they stay


async def test_two_publications_in_a_row_each_settle_the_questions_they_answer(
    hub: RunningHub, editor: httpx.AsyncClient
) -> None:
    umbrella, tent = "vocês vendem guarda-chuva de golfe gigante?", "vocês alugam barraca de camping para seis pessoas?"
    keep(hub, [umbrella, tent, *(f"vocês afinam piano de cauda número {n}?" for n in range(SETTLE_LIMIT))])
    for article_id, title, question in (
        ("guarda-chuva-golfe", "Vocês vendem guarda-chuva de golfe?", "tem guarda-chuva de golfe gigante?"),
        ("aluguel-barraca", "Vocês alugam barraca de camping?", "alugam barraca de camping para seis pessoas?"),
    ):
        written = article(article_id, title=title, questions=[question])
        assert (await editor.post("/api/kb/articles", json=written)).status_code == 201
        assert (await editor.post(f"/api/kb/articles/{article_id}/pt-BR/publish")).status_code == 200
    hub.call(hub.app.state.unanswered.idle)

    wordings, _ = await listed(editor)
    assert umbrella not in wordings and tent not in wordings
