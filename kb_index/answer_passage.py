"""The passage of an article that answers a question: the body chunk (``kb_index.passages.chunks``)
with the highest fused score, so a customer reads the paragraph they need, not the whole article."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kb_index import ranking
from kb_index.passages import Passage


def best_body_passage(
    body_passages: Sequence[tuple[int, Passage]],
    *,
    dense: dict[int, float],
    lexical: dict[int, float],
    beta: float,
    kappa: float,
) -> str:
    """The text of the body passage scoring highest for the question, fused the way articles are
    ranked (``ranking.fuse``: cosine plus a saturated BM25 bonus); "" when the article has no body.
    ``dense`` and ``lexical`` hold the question's scores by passage id (missing: 0). Ties go to
    the earlier passage, which is where articles put their main answer."""
    best_text, best_score = "", -np.inf
    for pid, passage in body_passages:
        score = ranking.fuse(dense.get(pid, 0.0), lexical.get(pid, 0.0), beta=beta, kappa=kappa, dense_available=bool(dense))
        if score > best_score:
            best_text, best_score = passage.text, score
    return best_text


def cosines(query: np.ndarray | None, pids: Sequence[int], vectors: np.ndarray | None) -> dict[int, float]:
    """The cosine of the (normalised) query vector to each passage's vector, by passage id."""
    if query is None or vectors is None or not len(pids):
        return {}
    return {pid: float(s) for pid, s in zip(pids, (vectors @ query).tolist())}
