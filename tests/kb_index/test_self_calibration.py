"""Thresholds fitted from the knowledge base alone, for a company with no labelled questions."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.settings import Settings
from kb_index import Decision, IndexedArticle, KnowledgeIndex, get_encoder
from kb_index.evaluation import evaluate, read_faq_jsonl, read_jsonl
from kb_index.self_calibration import calibrate_from_kb, kb_folds

DATA = Path(__file__).parent / "data"
EXAMPLES = [("vocês vendem pneu de carro?", "pt-BR"), ("qual a previsão do tempo?", "pt-BR"), ("me conta uma piada", "pt-BR")]


def test_every_question_is_searched_in_an_index_that_does_not_hold_it() -> None:
    articles = read_faq_jsonl(DATA / "faq.jsonl")
    folds = kb_folds(articles, EXAMPLES, folds=3)
    left_out: list[str] = []
    for fold in folds:
        indexed = {q for a in fold.articles for q in a.questions}
        ids = {a.id for a in fold.articles}
        left_out += [a.id for a in articles if a.id not in ids]
        assert not indexed & {q.text for q in fold.questions}
        # The questions of an article left out of the fold must be escalated.
        assert all(q.article is None or q.article in ids for q in fold.questions)
        assert not {t for t, _ in fold.out_of_scope} & {q.text for q in fold.questions}
    assert sorted(left_out) == sorted(a.id for a in articles)  # each article left out once
    asked = [q.text for f in folds for q in f.questions]
    assert all(q in asked for a in articles for q in a.questions)
    assert all(text in asked for text, _ in EXAMPLES)


def test_an_article_with_one_question_keeps_it() -> None:
    lone = IndexedArticle("lone", "pt-BR", "Artigo", "corpo", ("única pergunta",), "geral")
    other = IndexedArticle("other", "pt-BR", "Outro", "corpo", ("a", "b", "c"), "geral")
    for fold in kb_folds([lone, other], [], folds=2):
        assert all(a.questions == ("única pergunta",) for a in fold.articles if a.id == "lone")


def test_a_faq_without_labelled_questions_gets_thresholds_that_answer_and_escalate() -> None:
    encoder = get_encoder(Settings(environment="test").encoder)
    index = KnowledgeIndex(encoder)
    index.upsert(read_faq_jsonl(DATA / "faq.jsonl"))
    index.set_out_of_scope(EXAMPLES)
    calibration = calibrate_from_kb(index, EXAMPLES)
    assert index.calibration is calibration and calibration.t_clarify <= calibration.t_answer
    assert calibration.metrics["source"]["kb_alone"] == 1.0
    result = evaluate(index, read_jsonl(DATA / "test.jsonl"))
    assert result["in_scope_accuracy"] >= 4 / 6 and result["confidently_wrong"] <= 1 / 6
    assert index.search("que horas vocês abrem no sábado?", "pt-BR").decision is not Decision.ESCALATE


def test_too_small_a_knowledge_base_is_refused_with_a_reason() -> None:
    index = KnowledgeIndex(None)
    index.upsert([IndexedArticle("only", "pt-BR", "Único", "corpo", ("a", "b"), "geral")])
    with pytest.raises(ValueError, match="at least two articles"):
        calibrate_from_kb(index)
