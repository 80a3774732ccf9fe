"""From signals to a ranking: one confidence per article (the fusion the calibration's weights
parameterise), the articles a question may get, and the best version of each."""

from __future__ import annotations

from kb_index.records import ArticleKey, Signals
from kb_index.text import language_family


def fuse(
    dense: float,
    lexical: float,
    *,
    beta: float,
    kappa: float,
    dense_available: bool,
    centroid_sim: float = 0.0,
    centroid: float = 0.0,
    head_probability: float = 0.0,
    head: float = 0.0,
    negative_sim: float = 0.0,
    negative: float = 0.0,
) -> float:
    """One confidence from the signals: the cosine (best passage mixed with the article's
    centroid by the weight ``centroid``), the linear head's probability weighted by ``head``,
    less the cosine to the nearest out-of-scope example weighted by ``negative``, plus a
    saturated BM25 bonus."""
    lexical_sat = lexical / (lexical + kappa) if lexical > 0 else 0.0
    cosine = (1.0 - centroid) * dense + centroid * centroid_sim + head * head_probability - negative * negative_sim
    return (cosine if dense_available else 0.0) + beta * lexical_sat


def candidate_keys(scores: dict[ArticleKey, Signals], lang: str) -> list[ArticleKey]:
    """The articles a question may get: its language family's (all if there are none), sorted so
    ties are broken the same way in every process (set order depends on the hash seed)."""
    family = language_family(lang)
    return sorted(k for k in scores if language_family(k[1]) == family) or sorted(scores)


def rank(
    scores: dict[ArticleKey, Signals],
    lang: str,
    *,
    dense_available: bool,
    beta: float,
    kappa: float,
    centroid: float = 0.0,
    head: float = 0.0,
    negative: float = 0.0,
) -> list[tuple[ArticleKey, float]]:
    """Articles in the question's language family (all languages if it has none), best first."""
    # One entry per article id: prefer the version in the customer's exact language.
    best: dict[str, tuple[ArticleKey, float]] = {}
    for key in candidate_keys(scores, lang):
        signals = Signals(*scores[key])
        value = fuse(
            signals.dense,
            signals.lexical,
            beta=beta,
            kappa=kappa,
            dense_available=dense_available,
            centroid_sim=signals.centroid,
            centroid=centroid,
            head_probability=signals.head,
            head=head,
            negative_sim=signals.negative,
            negative=negative,
        )
        current = best.get(key[0])
        if current is None or value > current[1] or (value == current[1] and key[1] == lang):
            best[key[0]] = (key, value)
    return sorted(best.values(), key=lambda kv: (-kv[1], kv[0]))
