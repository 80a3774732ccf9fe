"""Text normalisation for lexical search: accent folding, tokens, Snowball stems per language."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

_TOKEN = re.compile(r"[a-z0-9]+")
_STOPWORDS = {
    "pt": set(
        "a o as os um uma uns umas de da do das dos em no na nos nas por pelo pela para pra pro com "
        "sem e ou que se me te lhe eu voce vc tu ele ela nos eles elas meu minha meus minhas seu sua "
        "seus suas isso isto esse essa este esta ja nao sim mais muito como qual quais quando onde "
        "porque pq q ao aos a ser foi sao esta estou tem ter tenho ha oi ola bom dia boa tarde noite "
        "obrigado obrigada favor gostaria queria quero posso pode".split()
    ),
    "en": set(
        "a an the of to in on for with and or is are was be been am i you he she it we they my your "
        "our their me this that these those do does did can could would should will how what when "
        "where why which who hi hello please thanks thank there here have has had not no yes".split()
    ),
}
_STEMMER_NAMES = {"pt": "portuguese", "en": "english"}


def language_family(lang: str) -> str:
    """ "pt-BR" and "pt-PT" are both "pt"; anything else is its primary subtag ("en")."""
    return (lang or "pt").split("-")[0].lower()


def fold(text: str) -> str:
    """Lowercase and strip accents, so "não", "nao" and "NÃO" match."""
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


@lru_cache(maxsize=4)
def _stemmer(family: str) -> Stemmer.Stemmer | None:
    name = _STEMMER_NAMES.get(family)
    return Stemmer.Stemmer(name) if name else None


def tokens(text: str, lang: str) -> list[str]:
    """Folded, stop-word-free, stemmed tokens of ``text`` in language ``lang``."""
    family = language_family(lang)
    words = [w for w in _TOKEN.findall(fold(text)) if w not in _STOPWORDS.get(family, ())]
    stemmer = _stemmer(family)
    return stemmer.stemWords(words) if stemmer else words
