"""Measuring the search on someone's own FAQ and labelled questions, with the shipped encoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hub.settings import Settings
from kb_index import Calibration, get_encoder
from kb_index.evaluation import (
    Scored,
    evaluate,
    evaluate_kb,
    fit_thresholds,
    read_faq_jsonl,
    read_jsonl,
    read_out_of_scope_jsonl,
)
from kb_index.index import KnowledgeIndex

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def report():
    articles = read_faq_jsonl(DATA / "faq.jsonl")
    encoder = get_encoder(Settings(environment="test").encoder)
    return evaluate_kb(articles, read_jsonl(DATA / "val.jsonl"), {"test": read_jsonl(DATA / "test.jsonl")}, encoder)


def test_a_small_bakery_faq_is_measured_on_its_test_questions(report) -> None:
    result = report.as_dict()
    test = result["test"]
    assert (test["in_scope"], test["out_of_scope"]) == (6, 3)
    # Plain questions about a handful of clearly different articles: the right one comes first.
    assert test["top1_accuracy"] >= 5 / 6
    assert test["top3_recall"] == 1.0
    for key in ("in_scope_accuracy", "oos_recall", "confidently_wrong"):
        assert 0.0 <= test[key] <= 1.0


def test_the_thresholds_are_fitted_on_the_validation_questions(report) -> None:
    th = report.as_dict()["thresholds"]
    assert th["t_clarify"] <= th["t_answer"]
    validation = report.as_dict()["validation"]
    # The escalation threshold reaches the out-of-scope recall the calibration asks for.
    assert validation["oos_recall"] >= 0.8
    assert validation["in_scope"] == 9 and validation["out_of_scope"] == 5


def test_labels_naming_an_article_the_faq_lacks_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "val.jsonl"
    bad.write_text(json.dumps({"text": "tem pão de queijo?", "lang": "pt-BR", "article": "pao-de-queijo"}) + "\n")
    with pytest.raises(ValueError, match="pao-de-queijo"):
        evaluate_kb(read_faq_jsonl(DATA / "faq.jsonl"), read_jsonl(bad), {}, None)


def test_a_faq_line_without_a_title_names_its_line(tmp_path: Path) -> None:
    faq = tmp_path / "faq.jsonl"
    faq.write_text('{"id": "a", "lang": "pt-BR", "title": "A", "questions": [], "body": ""}\n{"id": "b", "lang": "pt-BR"}\n')
    with pytest.raises(ValueError, match=r"faq.jsonl:2"):
        read_faq_jsonl(faq)


def test_calibration_files_written_before_the_centroid_weight_still_load(tmp_path: Path) -> None:
    old = tmp_path / "calibration.json"
    old.write_text(
        json.dumps({"minilm": {"encoder": "minilm", "beta": 0.1, "kappa": 5.0, "t_answer": 0.8, "t_clarify": 0.6, "metrics": {}}})
    )
    cal = Calibration.load(old, "minilm")
    assert cal.centroid == 0.0 and cal.t_answer == 0.8
    assert cal.negative == 0.0  # nor the out-of-scope weight: no penalty, as then


def test_out_of_scope_examples_are_read_and_a_missing_file_is_none(tmp_path: Path) -> None:
    examples = tmp_path / "out-of-scope.jsonl"
    assert read_out_of_scope_jsonl(examples) == []
    examples.write_text('{"text": "vocês vendem carro?", "lang": "pt-BR"}\n\n{"lang": "en"}\n')
    with pytest.raises(ValueError, match=r"out-of-scope.jsonl:3"):
        read_out_of_scope_jsonl(examples)
    examples.write_text('{"text": "vocês vendem carro?", "lang": "pt-BR"}\n{"text": "tell me a joke"}\n')
    assert read_out_of_scope_jsonl(examples) == [("vocês vendem carro?", "pt-BR"), ("tell me a joke", "pt-BR")]


def test_a_question_near_an_out_of_scope_example_loses_confidence_by_the_calibrated_weight() -> None:
    encoder = get_encoder(Settings(environment="test").encoder)
    index = KnowledgeIndex(encoder, Calibration(encoder.name, 0.0, 5.0, 0.9, 0.8, negative=0.5))
    index.upsert(read_faq_jsonl(DATA / "faq.jsonl"))
    question = "vocês vendem pneu de carro?"
    before = index.search(question, "pt-BR").confidence
    assert all(s.negative == 0.0 for s in index.raw_scores([question], ["pt-BR"])[0].values())
    # An English example only: a Portuguese question is compared with its own language family's.
    index.set_out_of_scope([("do you sell car tyres?", "en")])
    assert index.search(question, "pt-BR").confidence == before
    index.set_out_of_scope([("vocês vendem peças de carro?", "pt-BR")])
    similarity = next(iter(index.raw_scores([question], ["pt-BR"])[0].values())).negative
    assert similarity > 0.5
    assert index.search(question, "pt-BR").confidence == pytest.approx(before - 0.5 * similarity, abs=1e-3)


def test_options_count_right_when_the_customers_article_is_among_them() -> None:
    encoder = get_encoder(Settings(environment="test").encoder)
    index = KnowledgeIndex(encoder)
    index.upsert(read_faq_jsonl(DATA / "faq.jsonl"))
    test = read_jsonl(DATA / "test.jsonl")
    # Everything found is offered as options, nothing answered outright.
    index.calibration = Calibration(encoder.name, 0.0, 5.0, t_answer=9.0, t_clarify=-9.0)
    offered = evaluate(index, test)
    assert offered["answered_right"] == 0.0 and offered["confidently_wrong"] == 0.0
    assert offered["clarified_right"] == offered["top3_recall"] == offered["in_scope_accuracy"]
    assert offered["oos_recall"] == 0.0 and offered["oos_clarified"] == 1.0
    # Everything answered outright: only the first article counts.
    index.calibration = Calibration(encoder.name, 0.0, 5.0, t_answer=-9.0, t_clarify=-9.0)
    answered = evaluate(index, test)
    assert answered["answered_right"] == answered["top1_accuracy"] == answered["in_scope_accuracy"]
    assert answered["confidently_wrong"] == pytest.approx(1 - answered["top1_accuracy"])
    # Everything escalated.
    index.calibration = Calibration(encoder.name, 0.0, 5.0, t_answer=9.0, t_clarify=9.0)
    escalated = evaluate(index, test)
    assert (escalated["escalated"], escalated["oos_recall"], escalated["in_scope_accuracy"]) == (1.0, 1.0, 0.0)


def _scored(rows: list[tuple[float, str]]) -> Scored:
    """Questions by confidence and outcome: "first" (right article first), "options" (right
    article second or third), "missed" (not among the first three), "out" (out of scope)."""
    kinds = [k for _, k in rows]
    return Scored(
        inside=np.array([k != "out" for k in kinds]),
        confidence=np.array([c for c, _ in rows]),
        top1=np.array([k == "first" for k in kinds]),
        top3=np.array([k in ("first", "options") for k in kinds]),
    )


def test_options_are_offered_where_they_are_worth_more_than_answers_or_hand_overs() -> None:
    # Confident questions are right; a middle band where the right article is often second;
    # out-of-scope questions below it.
    rows = [(0.9 + i / 1000, "first") for i in range(40)]
    rows += [(0.7 + i / 1000, "options" if i % 2 else "first") for i in range(20)]
    rows += [(0.4 + i / 1000, "out") for i in range(20)]
    _, t_answer, t_clarify = fit_thresholds(_scored(rows))
    assert t_clarify <= 0.7 < 0.9 <= t_answer  # the middle band gets options, not answers
    # The same band with the right article first every time: answered, no extra tap.
    rows = [(c, "first" if k == "options" else k) for c, k in rows]
    _, t_answer, t_clarify = fit_thresholds(_scored(rows))
    assert t_answer == t_clarify <= 0.7


def test_options_where_the_right_article_is_rarely_among_them_are_not_offered() -> None:
    rows = [(0.9 + i / 1000, "first") for i in range(40)]
    rows += [(0.7 + i / 1000, "missed") for i in range(20)]  # a tap, then a hand-over anyway
    rows += [(0.4 + i / 1000, "out") for i in range(20)]
    _, t_answer, t_clarify = fit_thresholds(_scored(rows))
    assert t_answer == t_clarify and 0.72 < t_clarify <= 0.9
