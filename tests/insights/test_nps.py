"""Reading the customer's 0–10 answer."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from insights.nps import parse_nps_score


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("9", 9),
        ("nota 9", 9),
        ("dez", 10),
        ("10!", 10),
        ("ten", 10),
        ("Nove", 9),
        ("zero", 0),
        ("0", 0),
        ("8/10", 8),
        ("nota 7 de 10", 7),
        ("I'd give it a 6", 6),
        ("dou uma nota 8", 8),
        ("uns 7", 7),
        ("nota máxima: 10", 10),
        ("  5  ", 5),
    ],
)
def test_scores_typed_or_tapped_are_understood(reply: str, score: int) -> None:
    assert parse_nps_score(reply).score == score


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("11", "out_of_range"),
        ("-1", "out_of_range"),
        ("100", "out_of_range"),
        ("7 ou 8", "ambiguous"),
        ("sei lá", "none"),
        ("", "none"),
        ("muito bom", "none"),
    ],
)
def test_replies_without_one_usable_score_are_not_guessed(reply: str, problem: str) -> None:
    parsed = parse_nps_score(reply)
    assert (parsed.score, parsed.problem) == (None, problem)


@given(st.integers(min_value=0, max_value=10), st.sampled_from(["{}", "nota {}", "{}!", "dou {}", "{}/10"]))
def test_every_score_in_every_common_form(score: int, form: str) -> None:
    assert parse_nps_score(form.format(score)).score == score


@given(st.text(max_size=60))
def test_any_text_gives_a_score_in_range_or_none(text: str) -> None:
    parsed = parse_nps_score(text)
    assert parsed.score is None or 0 <= parsed.score <= 10
    assert (parsed.score is None) == (parsed.problem is not None)
