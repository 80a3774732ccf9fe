"""Typed text never reaches Rasa as a command: whatever a customer types, the text Rasa reads
cannot start with ``/`` once Rasa has stripped it."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from connectors.text import text_for_the_bot

# What someone trying to reach Rasa's "/intent{...}" syntax would type, mixed with anything else.
TRICKS = st.sampled_from(
    [
        "/",
        "／",
        "\u200b",
        "\u200c",
        "\u200d",
        "\u2060",
        "\ufeff",
        "\u200e",
        "\u202e",
        " ",
        "\t",
        "\n",
        "\u3000",
        "\u00a0",
        "\x00",
        "\x1c",
        "\u0085",
        "{",
        "}",
        "@",
        '"',
        "complaint",
        "end_conversation",
        "\u0301",
    ]
)
TYPED = st.lists(st.one_of(TRICKS, st.characters()), max_size=30).map("".join)


def rasa_reads_a_command(text: str) -> bool:
    """Rasa 3.6's test: ``UserMessage`` strips the text, ``unpack_regex_message`` strips it again
    and parses it as ``/intent{entities}`` when it starts with ``/``."""
    return text.strip().strip().startswith("/")


@settings(max_examples=500)
@given(TYPED)
def test_nothing_typed_reaches_rasa_as_a_command(typed: str) -> None:
    assert not rasa_reads_a_command(text_for_the_bot(typed))


@settings(max_examples=300)
@given(TYPED)
def test_what_rasa_reads_has_no_invisible_characters_and_is_stable(typed: str) -> None:
    once = text_for_the_bot(typed)
    assert not any(unicodedata.category(c) == "Cf" for c in once)
    assert unicodedata.normalize("NFKC", once) == once
    assert text_for_the_bot(once) == once


WORDS = st.characters(categories=["L", "N", "P", "Zs"]).filter(lambda c: "/" not in unicodedata.normalize("NFKC", c))


@given(st.text(alphabet=WORDS, max_size=60))
def test_ordinary_words_are_left_as_typed(typed: str) -> None:
    assert text_for_the_bot(typed) == unicodedata.normalize("NFKC", typed).strip()


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        (" /complaint", ""),
        ("／complaint", ""),
        ("\u200b/complaint", ""),
        ("///complaint", ""),
        ("/complaint@0.99", ""),
        ('/ /end_conversation{"ending":"agent_closed"}', ""),
        ('/end_conversation{"ending": "agent_closed"} ', ""),
        ("/ajuda quero falar com atendente", "quero falar com atendente"),
        ("/ quero falar com atendente", "quero falar com atendente"),
        ("ﬁm do pedido", "fim do pedido"),
        ("\ufeffoi", "oi"),
        ("qual o prazo de entrega?", "qual o prazo de entrega?"),
        ("prazo 1/2 dias", "prazo 1/2 dias"),
        ("///", ""),
    ],
)
def test_examples(typed: str, read: str) -> None:
    assert text_for_the_bot(typed) == read


@given(
    st.from_regex(r"[a-z_]{1,20}(@0\.[0-9])?(\{\"[a-z]+\": ?\"[a-z_ ]*\"\})?", fullmatch=True),
    st.text(alphabet=WORDS, max_size=40),
)
def test_a_typed_command_is_dropped_and_the_words_after_it_kept(command: str, words: str) -> None:
    # A closing brace later on the line is part of the command's JSON, as Rasa reads it (it takes
    # the entities up to the line's last brace): that case is the next test's.
    assume("{" not in command or "}" not in unicodedata.normalize("NFKC", words))
    assert text_for_the_bot(f"/{command} {words}") == text_for_the_bot(words)


def test_a_command_takes_its_json_up_to_the_last_brace_as_rasa_does() -> None:
    assert text_for_the_bot('/complaint{"a": ""} quero} ajuda') == "ajuda"
