"""Understanding a customer's 0–10 answer, typed or tapped, in Portuguese or English."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_WORDS = {
    # Portuguese
    "zero": 0,
    "um": 1,
    "uma": 1,
    "dois": 2,
    "duas": 2,
    "tres": 3,
    "quatro": 4,
    "cinco": 5,
    "seis": 6,
    "sete": 7,
    "oito": 8,
    "nove": 9,
    "dez": 10,
    # English
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
# "um"/"uma" are articles far more often than scores ("dou uma nota 8"), so they only count alone.
_AMBIGUOUS_WORDS = {"um", "uma"}
_NUMBER = re.compile(r"(?<![\d.,])(\d{1,3})(?:[.,]\d+)?(?![\d])")
_OUT_OF = re.compile(r"(\d{1,3})\s*(?:/|de|em|out of)\s*10\b")


@dataclass(frozen=True)
class NpsParse:
    """What a reply to the NPS question said: a score 0–10, or why it is not one."""

    score: int | None
    problem: str | None = None  # "none" (no number), "out_of_range", "ambiguous" (several numbers)


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def parse_nps_score(text: str) -> NpsParse:
    """Read a 0–10 score from ``text``: "9", "nota 9", "dez", "10!", "ten", "8/10", "I'd give it a 6".

    A reply with two different numbers ("7 ou 8") is ambiguous; "11" or "-1" is out of range.
    """
    folded = _fold(text).strip()
    out_of = _OUT_OF.search(folded)
    if out_of:
        found = [int(out_of.group(1))]
    else:
        found = [int(m.group(1)) for m in _NUMBER.finditer(folded)]
        words = re.findall(r"[a-z]+", folded)
        for word in words:
            if word in _WORDS and (word not in _AMBIGUOUS_WORDS or len(words) == 1):
                found.append(_WORDS[word])
    distinct = sorted(set(found))
    if not distinct:
        return NpsParse(None, "none")
    if len(distinct) > 1:
        return NpsParse(None, "ambiguous")
    score = distinct[0]
    if re.search(r"-\s*\d", folded) or not 0 <= score <= 10:
        return NpsParse(None, "out_of_range")
    return NpsParse(score)
