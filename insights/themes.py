"""The most frequent words of detractors' reasons: a plain count, without the words that carry no theme."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping

# Portuguese and English function words, and survey filler ("nota", "porque"), accent-folded.
STOPWORDS = frozenset(
    """
    a o as os um uma uns umas de da do das dos em na no nas nos por pelo pela pelos pelas para pra pro com sem
    e ou mas que se nao sim ja muito muita muitos muitas mais menos bem mal foi era sao ser estar esta estao
    esse essa isso este isto aquele aquela eu voce voces ele ela eles elas meu minha meus minhas seu sua seus suas
    me te lhe nos vos ao aos como quando onde porque porem tambem so ate sobre entre depois antes ainda agora
    tem tinha ter tive fiz faz fazer vez vezes nada tudo algo nota dou daria dar acho achei estou fui tenho
    the and or but to of in on at for with without from by is are was were be been it its this that these those
    i me my we our you your he she they them their not no yes very too so just have has had do did does
    an as if than then there here what which who when why how because score give gave would could
    """.split()
)
_WORD = re.compile(r"[a-z]{3,}")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def top_words(texts: Iterable[str] | Mapping[str, int], *, limit: int = 15) -> list[tuple[str, int]]:
    """The ``limit`` most frequent meaningful words of ``texts`` (accent-folded), most frequent first;
    a word counts once per text, so one long rant does not make a theme. ``texts`` may be a mapping
    of each distinct text to how many times it was written (what a ``GROUP BY`` gives)."""
    # Each distinct text is folded once: reasons repeat, and folding is the costly part.
    written = texts if isinstance(texts, Mapping) else Counter(texts)
    counts: Counter[str] = Counter()
    for text, times in written.items():
        for word in {w for w in _WORD.findall(_fold(text or "")) if w not in STOPWORDS}:
            counts[word] += times
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
