"""A customer's question searched while Rasa reads it (desk.early_search.EarlySearches), over the
starter knowledge base with the shipped encoder: the knowledge-base action of the same turn takes
that result; anything else (another replica, another text, too late) finds none and searches itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from desk.early_search import EarlySearches, worth_searching_early
from kb_index import Decision, KnowledgeIndex
from tests.support import starter_index

QUESTION = "qual o prazo de entrega?"


@pytest.fixture(scope="module")
def index(index_cache: Path) -> KnowledgeIndex:
    return starter_index(index_cache)


async def test_the_action_of_the_same_turn_takes_the_early_result(index: KnowledgeIndex) -> None:
    early = EarlySearches(index)
    early.start("c1", QUESTION, "pt-BR")
    result = await early.take("c1", f"  {QUESTION} ", "pt-BR")  # Rasa strips the text it read
    assert result is not None
    assert result.decision is Decision.ANSWER
    assert result.best is not None and result.best.article_id == "prazo-de-entrega"
    assert result == index.search(QUESTION, "pt-BR")  # the same answer the action's own search gives
    assert len(early) == 0
    assert await early.take("c1", QUESTION, "pt-BR") is None  # taken once: a second ask searches itself


async def test_another_replica_another_question_or_language_find_nothing(index: KnowledgeIndex) -> None:
    here, other_replica = EarlySearches(index), EarlySearches(index)
    here.start("c1", QUESTION, "pt-BR")
    assert await other_replica.take("c1", QUESTION, "pt-BR") is None
    assert await here.take("c2", QUESTION, "pt-BR") is None
    assert await here.take("c1", "como rastrear meu pedido?", "pt-BR") is None
    assert await here.take("c1", QUESTION, "en") is None
    assert len(here) == 1  # still there for its own turn
    here.forget("c1", QUESTION, "pt-BR")  # the turn ended without the action asking
    assert len(here) == 0


@pytest.mark.parametrize("text", ["/affirm", '/choose_article{"article": "x"}', "oi", "obrigado!", "9", "  sim  ", ""])
async def test_buttons_commands_and_single_words_are_not_searched_early(index: KnowledgeIndex, text: str) -> None:
    assert not worth_searching_early(text)
    early = EarlySearches(index)
    early.start("c1", text, "pt-BR")
    assert len(early) == 0


async def test_only_a_turn_alone_is_searched_early_and_every_turn_forgets_its_search(index: KnowledgeIndex) -> None:
    early = EarlySearches(index)
    async with early.turn("c1", QUESTION, "pt-BR"):
        assert len(early) == 1
        async with early.turn("c2", QUESTION, "pt-BR"):  # another customer meanwhile: cores are busy
            assert len(early) == 1
            assert await early.take("c2", QUESTION, "pt-BR") is None  # its action searches itself
        assert await early.take("c1", QUESTION, "pt-BR") is not None
    async with early.turn("c3", QUESTION, "pt-BR"):
        pass  # Rasa never called the action (a greeting)
    assert len(early) == 0
    async with early.turn("c4", QUESTION, "pt-BR", search=False):  # BALCAO_KB_EARLY_SEARCH=false
        assert len(early) == 0
    early.close()


async def test_few_entries_are_kept_and_none_for_long(index: KnowledgeIndex) -> None:
    now = [0.0]
    early = EarlySearches(index, most=2, keep_s=30.0, clock=lambda: now[0])
    for n in range(3):
        early.start(f"c{n}", QUESTION, "pt-BR")
    assert len(early) == 2
    assert await early.take("c0", QUESTION, "pt-BR") is None  # the oldest made room
    now[0] = 31.0
    assert await early.take("c1", QUESTION, "pt-BR") is None  # expired: the action searches itself
    early.start("c3", QUESTION, "pt-BR")  # a new turn clears what expired
    assert len(early) == 1
    assert await early.take("c3", QUESTION, "pt-BR") is not None
