"""Scale benchmark of the knowledge base's indexes at 10k, 100k and 1M passages.

Per size: dense query latency (p50/p95, one thread) of the store the hub uses
(``kb_index.vectors.VectorStore``: IVF past its threshold) with the query encode excluded and
included, recall@10 against exact search, the approximate index's build time, memory, the cost of
one publish (an article's passages replaced) in the dense and the lexical index, and lexical query
latency.

The vectors have the structure of real text embeddings, not uniform noise (on uniform vectors
approximate indexes behave unlike real data: HNSW's recall@10 was 0.17 at 100k): about 4k real
sentences (25 CLINC150 training utterances of each of its 150 intents, and the starter knowledge base's texts)
are encoded once with the default encoder and cached in ``bench/.cache/``; the larger sets are made from them by mixing two real
embeddings (a step of up to 30% towards another sentence) and adding small Gaussian noise, then
renormalising. Queries are held-out CLINC150 test utterances, encoded as queries. Lexical passages
are likewise made from real utterances (halves of two sentences joined).

Latency is wall-clock time (``p50_ms``, ``p95_ms``); on a shared machine the scheduler adds to
it, so the thread's CPU time is reported beside it (``cpu_p50_ms``, ``cpu_p95_ms``) with the load
average during the run. At 100k an HNSW index (M=32) is measured too, for the choice of IVF.

Run ``nice -n 10 .venv/bin/python bench/kb_scale.py [--sizes 10000,100000,1000000]``; results go
to ``bench/results/kb_scale.json`` (sizes not run this time are kept).
"""

from __future__ import annotations

import os

# One thread, set before numpy / faiss are imported: the hub serves one query per thread.
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse
import gc
import importlib.util
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: import the project's packages

from handoff import DEFAULT_TEAMS
from hub.settings import Settings
from kb_index import EmbeddingCache, Encoder, get_encoder, load_kb_dir
from kb_index.lexical import LexicalIndex
from kb_index.text import tokens
from kb_index.vectors import VectorStore

CACHE_DIR = ROOT / "bench" / ".cache"
RESULTS = ROOT / "bench" / "results" / "kb_scale.json"
CLINC = ROOT.parent / "shared" / "bench" / "clinc150" / "data_full.json"
SIZES = (10_000, 100_000, 1_000_000)
QUERIES = 1000  # timed one by one, encode excluded
ENCODED_QUERIES = 200  # timed with the encode included (about 20 ms each)
BATCH = 256
MIX = 0.3  # at most this step towards another sentence's embedding
NOISE = 0.15  # norm of the added Gaussian noise, beside unit-length embeddings


def rss_mb() -> float:
    """Resident memory of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def real_texts() -> tuple[list[str], list[str], list[str]]:
    """(base sentences encoded as passages' stand-ins, body chunks, held-out queries)."""
    data = json.loads(CLINC.read_text())
    sentences = [text for text, _ in data["train"]][::4]  # 25 of each of the 150 intents
    bodies: list[str] = []
    for draft in load_kb_dir(ROOT / "data" / "kb", teams=DEFAULT_TEAMS)[0]:
        sentences += [draft.title, *draft.questions]
        bodies.append(draft.body)
    queries = [text for text, _ in data["test"]][::4][:QUERIES]
    return sentences, bodies, queries


def real_embeddings(encoder_spec: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Real sentence embeddings (base) and query embeddings, encoded once and cached."""
    encoder = get_encoder(encoder_spec)
    safe = encoder.name.replace(":", "_").replace("/", "_")
    cache = EmbeddingCache(CACHE_DIR / f"kb_scale-{safe}.npz")
    sentences, bodies, queries = real_texts()
    parts = []
    for start in tqdm(range(0, len(sentences), BATCH), desc="encoding sentences", unit="batch"):
        parts.append(cache.encode(encoder, sentences[start : start + BATCH], passages=False))
        if start % (BATCH * 8) == 0:
            cache.save()  # an interrupted first run keeps what it encoded
    parts.append(cache.encode(encoder, bodies, passages=True))
    q = cache.encode(encoder, queries, passages=False)
    cache.save()
    return np.concatenate(parts), q, queries


def synthetic(base: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` unit vectors shaped like real embeddings: the real ones first, then mixes plus noise."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    real = min(n, len(base))
    out[:real] = base[:real]
    step = 50_000
    for start in range(real, n, step):
        m = min(step, n - start)
        a = base[rng.integers(0, len(base), m)]
        b = base[rng.integers(0, len(base), m)]
        alpha = rng.uniform(0, MIX, (m, 1)).astype(np.float32)
        noise = rng.normal(0, NOISE / np.sqrt(base.shape[1]), (m, base.shape[1])).astype(np.float32)
        v = a + alpha * (b - a) + noise
        out[start : start + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def synthetic_texts(sentences: list[str], n: int, seed: int) -> list[str]:
    """``n`` passages from real sentences: the first half of one joined to the second half of another."""
    rng = np.random.default_rng(seed)
    words = [s.split() for s in sentences]
    a = rng.integers(0, len(words), n)
    b = rng.integers(0, len(words), n)
    return [" ".join(words[i][: max(1, len(words[i]) // 2)] + words[j][len(words[j]) // 2 :]) for i, j in zip(a, b)]


class Timer:
    """Wall-clock and this thread's CPU time of each timed block."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), time.thread_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall.append(time.perf_counter() - self._wall)
        self.cpu.append(time.thread_time() - self._cpu)

    def report(self, prefix: str = "") -> dict:
        out = {}
        out[f"{prefix}p50_ms"], out[f"{prefix}p95_ms"] = percentiles(self.wall)
        out[f"{prefix}cpu_p50_ms"], out[f"{prefix}cpu_p95_ms"] = percentiles(self.cpu)
        return out


def percentiles(samples: list[float]) -> tuple[float, float]:
    arr = np.array(samples) * 1000
    return round(float(np.percentile(arr, 50)), 3), round(float(np.percentile(arr, 95)), 3)


def bench_dense(base: np.ndarray, q: np.ndarray, queries: list[str], n: int, encoder: Encoder, threshold: int) -> dict:
    """Build the store for ``n`` vectors (approximate past ``threshold``) and measure it."""
    vectors = synthetic(base, n, seed=n)
    ids = np.arange(n, dtype=np.int64) * 7 + 3  # ids are arbitrary 63-bit numbers in the hub
    gc.collect()
    before = rss_mb()
    store = VectorStore(base.shape[1], encoder="bench", approx_threshold=threshold, background=False, progress=True)
    start = time.perf_counter()
    store.add(ids, vectors)  # reaching the threshold builds the approximate index (here in this thread)
    build_s = time.perf_counter() - start
    memory_mb = rss_mb() - before  # the store's own copy of the vectors, its ids and the IVF index
    del vectors
    gc.collect()
    row: dict = {"kind": store.kind, "build_s": round(build_s, 2), "memory_mb": round(memory_mb, 1)}
    row.update(store.describe())

    exact_ids = store.exact_search(q, 10)[1]
    found = np.zeros_like(exact_ids)
    timer, timer_k256, timer_exact, timer_encode = Timer(), Timer(), Timer(), Timer()
    for i in range(len(q)):
        with timer:
            _, got = store.search(q[i : i + 1], 10)
        found[i] = got[0]
    for i in range(0, len(q), 4):
        with timer_k256:
            store.search(q[i : i + 1], 256)  # what KnowledgeIndex.raw_scores asks for
    for i in range(0, len(q), 10):
        with timer_exact:
            store.exact_search(q[i : i + 1], 10)
    recall = np.mean([len(set(found[i]) & set(exact_ids[i])) / 10 for i in range(len(q))])
    row.update(timer.report())
    row["recall_at_10"] = round(float(recall), 4)
    row.update(timer_k256.report("k256_"))
    row.update(timer_exact.report("exact_"))
    for text in queries[:ENCODED_QUERIES]:
        with timer_encode:
            store.search(encoder.encode_queries([text]), 10)
    row.update(timer_encode.report("encode_included_"))

    # A publish: one article's 8 passages replaced (new vectors), as KnowledgeIndex.upsert does.
    rng = np.random.default_rng(1)
    publish = Timer()
    for round_ in range(50):
        old = ids[rng.integers(0, n, 8)]
        new_vectors = synthetic(base, 8, seed=round_)
        with publish:
            store.remove(old)
            store.add(old + 1, new_vectors)  # new ids: edited passages get new ids
    row.update(publish.report("publish_"))
    store.close()
    return row


def bench_hnsw(base: np.ndarray, q: np.ndarray, n: int) -> dict:
    """HNSW (M=32, efSearch 64) on the same vectors, for comparison with the IVF the store uses."""
    import faiss

    vectors = synthetic(base, n, seed=n)
    exact = faiss.knn(q, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)[1]
    index = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    start = time.perf_counter()
    for chunk in tqdm(range(0, n, 10_000), desc=f"hnsw {n:,}", unit="chunk"):
        index.add(vectors[chunk : chunk + 10_000])
    build_s = time.perf_counter() - start
    index.hnsw.efSearch = 64
    timer, recall = Timer(), []
    for i in range(len(q)):
        with timer:
            got = index.search(q[i : i + 1], 10)[1][0]
        recall.append(len(set(got) & set(exact[i])) / 10)
    return {"build_s": round(build_s, 2), "recall_at_10": round(float(np.mean(recall)), 4), **timer.report()}


def bench_lexical(sentences: list[str], n: int, lang_queries: list[str]) -> dict:
    """The incremental BM25 index at ``n`` passages: build, query and publish cost."""
    texts = synthetic_texts(sentences, n, seed=n)
    index = LexicalIndex()
    gc.collect()
    before = rss_mb()  # RSS growth: approximate (Python reuses memory it freed earlier)
    start = time.perf_counter()
    for pid, text in enumerate(tqdm(texts, desc=f"lexical {n:,}", unit="passage", mininterval=5)):
        index.add(pid, tokens(text, "en"))
    build_s = time.perf_counter() - start
    memory_mb = rss_mb() - before
    query_tokens = [tokens(t, "en") for t in lang_queries]
    timer = Timer()
    for toks in query_tokens:
        with timer:
            index.scores(toks)
    rng = np.random.default_rng(2)
    publish = Timer()
    for round_ in range(50):
        victims = rng.integers(0, n, 8)
        with publish:
            for pid in victims:
                index.remove(int(pid))
            for j, pid in enumerate(victims):
                index.add(n + round_ * 8 + j, tokens(texts[int(pid)], "en"))
    row = {"lexical_build_s": round(build_s, 2), "lexical_memory_mb": round(memory_mb, 1)}
    row.update(timer.report("lexical_"))
    row.update(publish.report("lexical_publish_"))
    return row


def publish_to_answerable() -> dict | None:
    """The kb-editors benchmark of publish-to-answerable time (``bench/kb_publish.py``), when present."""
    path = ROOT / "bench" / "kb_publish.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("kb_publish", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.measure_publish_to_answerable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--encoder", default=Settings(environment="test").encoder)
    parser.add_argument("--embed-only", action="store_true", help="only encode (and cache) the real sentences")
    parser.add_argument("--skip-lexical", action="store_true")
    parser.add_argument("--skip-hnsw", action="store_true")
    parser.add_argument("--skip-publish", action="store_true", help="do not run bench/kb_publish.py")
    args = parser.parse_args()
    base, q, queries = real_embeddings(args.encoder)
    print(f"{len(base):,} real embeddings, {len(q):,} queries")
    if args.embed_only:
        return
    encoder = get_encoder(args.encoder)
    sentences, _, _ = real_texts()
    threshold = Settings(environment="test").index_approx_threshold
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for n in (int(s) for s in args.sizes.split(",") if s.strip()):  # --sizes= : publish only
        print(f"--- {n:,} passages")
        load_before = os.getloadavg()[0]
        row = bench_dense(base, q, queries, n, encoder, threshold)
        gc.collect()
        if n == 100_000 and not args.skip_hnsw:
            row["hnsw"] = bench_hnsw(base, q, n)
            gc.collect()
        if not args.skip_lexical:
            row.update(bench_lexical(sentences, n, queries))
            gc.collect()
        row["load_average"] = round((load_before + os.getloadavg()[0]) / 2, 2)
        print(json.dumps(row, indent=1))
        results[str(n)] = row
    if not args.skip_publish:
        measured = publish_to_answerable()
        if measured is None:
            print("bench/kb_publish.py not found: publish_to_answerable_ms left as it was")
        else:
            results["publish_to_answerable_ms"] = measured.get("publish_to_answerable_ms", measured)
            results["publish_to_answerable"] = measured
    results["encoder"] = encoder.name
    results["threads"] = 1
    results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
