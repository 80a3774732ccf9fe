"""How the demo page picks its language from the browser, and the desk's wording the widget shows."""

from __future__ import annotations

import pytest

from desk.texts import widget_texts
from hub.pages import browser_language


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en-US,en;q=0.9", "en"),
        ("pt-PT,pt;q=0.9,en;q=0.8", "pt-PT"),
        ("pt,en;q=0.5", "pt-BR"),
        ("de-DE,de;q=0.9,en;q=0.8", "en"),  # the first language the desk speaks
        ("de-DE;q=0.2,en-GB;q=0.9", "en"),  # by weight, not by position
        ("de-DE", "pt-PT"),  # none: the desk's default
        ("", "pt-PT"),
        ("en;q=abc, pt-BR", "pt-BR"),  # a broken weight counts as zero, never an error
    ],
)
def test_the_browser_language_is_the_first_one_the_desk_speaks(header: str, expected: str) -> None:
    assert browser_language(header, "pt-PT") == expected


def test_the_widget_greets_in_each_language_naming_the_company_and_says_the_limit() -> None:
    assert widget_texts("en", company="Loja Maré", max_chars=4000)["greeting"].startswith("Hi! I'm the Loja Maré")
    assert "Loja Maré" in widget_texts("pt-PT", company="Loja Maré", max_chars=4000)["greeting"]
    assert "1500 caracteres" in widget_texts("pt-BR", company="X", max_chars=1500)["too_long"]


def test_the_desks_own_greeting_wins_and_a_stray_brace_is_kept() -> None:
    own = {"en": "Welcome to {company} {support}!"}
    assert widget_texts("en", company="Maré", max_chars=10, greeting=own)["greeting"] == "Welcome to Maré {support}!"
    assert widget_texts("pt-BR", company="Maré", max_chars=10, greeting=own)["greeting"].startswith("Oi!")
