"""The approximate side of the vector store: an IVF index of 8-bit scalar-quantised lists, built
in one pass, and its search, whose candidates are re-scored with the stored vectors so the cosines
that reach the fusion are the true ones.

Why IVF and not HNSW: measured here (``bench/kb_scale.py``), IVF builds a million vectors in
about a minute on one thread where HNSW takes many, it supports removal (HNSW does not), and it
meets the latency and recall targets.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import faiss
import numpy as np
from tqdm import tqdm

_BUILD_CHUNK = 20_000  # vectors added to the new index per step (a progress tick, a chance to stop)


class BuildStopped(Exception):
    """The store was closed while a build was running."""


def no_results(rows: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores and ids of ``rows`` queries that found nothing yet: -inf and -1."""
    return np.full((rows, k), -np.inf, dtype=np.float32), np.full((rows, k), -1, dtype=np.int64)


def build_ivf(
    vectors: np.ndarray, ids: np.ndarray, *, nprobe: int | None, progress: bool, stopping: Callable[[], bool]
) -> faiss.Index:
    """An IVF index of ``vectors`` under ``ids``; ``BuildStopped`` as soon as ``stopping()`` says so."""
    n, dim = vectors.shape
    # About sqrt(n) lists (a power of two), trained on 40 points a list, 10 k-means rounds:
    # a million vectors train and fill in about a minute on one thread.
    nlist = int(min(4096, max(16, 2 ** round(math.log2(math.sqrt(max(n, 1)))))))
    nlist = max(1, min(nlist, n // 4))  # a tiny store (tests) still trains: at least 4 points a list
    index = faiss.index_factory(dim, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
    ivf = faiss.extract_index_ivf(index)
    ivf.cp.niter = 10
    ivf.cp.max_points_per_centroid = 40  # faiss asks for at least 39 points a list
    # Measured (bench/kb_scale.py): at 1M vectors and 1024 lists, 12 lists give recall@10 0.987
    # in about 2.5 ms of CPU; 64 gave 0.999 in 11.5 ms.
    ivf.nprobe = nprobe or max(8, nlist // 80)
    bar = tqdm(total=n, desc=f"vector index IVF{nlist}", unit="vec", disable=not progress, mininterval=2)
    try:
        sample = np.random.default_rng(0).choice(n, size=min(n, nlist * 40), replace=False)
        bar.set_postfix_str("training")
        index.train(vectors[np.sort(sample)])
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # removal by id without scanning the lists
        bar.set_postfix_str("adding")
        for start in range(0, n, _BUILD_CHUNK):
            if stopping():
                raise BuildStopped
            chunk_ids = ids[start : start + _BUILD_CHUNK]
            index.add_with_ids(np.ascontiguousarray(vectors[start : start + _BUILD_CHUNK]), chunk_ids)
            bar.update(len(chunk_ids))
    finally:
        bar.close()
    return index


def search_rescored(
    approx: faiss.Index, queries: np.ndarray, k: int, *, vectors: np.ndarray, slot: dict[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best ids per query, their scores the exact inner products with the stored vectors
    (``vectors[slot[id]]``)."""
    scores, ids = no_results(len(queries), k)
    # Twice as many candidates as asked, re-scored with the stored vectors: the 8-bit codes
    # only have to put the true best among them, and the scores returned are exact cosines.
    wanted = min(2 * k + 16, len(slot))
    if not wanted:
        return scores, ids
    _, candidates = approx.search(queries, wanted)
    for row in range(len(queries)):
        found = [i for i in candidates[row].tolist() if i >= 0]
        slots = np.array([slot[i] for i in found], dtype=np.int64)
        exact = vectors[slots] @ queries[row]
        order = np.argsort(-exact, kind="stable")[:k]
        ids[row, : len(order)] = np.array(found, dtype=np.int64)[order]
        scores[row, : len(order)] = exact[order]
    return scores, ids
