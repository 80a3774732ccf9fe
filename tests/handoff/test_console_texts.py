"""The console's words: every language has every word, the agent's language is followed, and a
canned reply without the customer's name still reads as a sentence."""

from __future__ import annotations

import re

import pytest

from handoff.canned import DEFAULTS, render_canned
from handoff.console_texts import TEXTS, console_texts


def test_every_language_has_every_word_of_the_console() -> None:
    keys = set(TEXTS["pt-BR"])
    assert {lang: set(words) ^ keys for lang, words in TEXTS.items()} == {"pt-BR": set(), "pt-PT": set(), "en": set()}
    assert TEXTS["pt-PT"]["to_team"] != TEXTS["pt-BR"]["to_team"]  # European Portuguese is its own table


@pytest.mark.parametrize(
    ("asked", "chosen"),
    [
        ("en-US,en;q=0.9", "en"),
        ("pt-PT,pt;q=0.9", "pt-PT"),
        ("pt-BR", "pt-BR"),
        ("pt", "pt-BR"),
        ("de-DE", "pt-BR"),
        ("", "pt-BR"),
    ],
)
def test_the_console_follows_the_agents_language(asked: str, chosen: str) -> None:
    assert console_texts(asked)[0] == chosen


@pytest.mark.parametrize(("lang", "shortcut"), [(lang, s) for lang, items in DEFAULTS.items() for s in items])
def test_a_canned_reply_without_a_name_reads_naturally(lang: str, shortcut: str) -> None:
    text = render_canned(DEFAULTS[lang][shortcut], customer_name=None, agent_name="Ana")
    assert not re.search(r"\s[,.!]|,[.!]|\{", text), text
    assert "Bia" in render_canned(DEFAULTS[lang][shortcut], customer_name="Bia", agent_name="Ana")


def test_aguarde_without_a_name() -> None:
    assert render_canned(DEFAULTS["pt-BR"]["aguarde"], customer_name="", agent_name="Ana") == "Estou verificando. Só um instante."
