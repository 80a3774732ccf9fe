"""Write the HWU64 subset ``bench/kb_quality.py`` uses, from a clone of its public repository.

HWU64 (Liu et al., "Benchmarking Natural Language Understanding Services for building
Conversational Agents", IWSDS 2019; github.com/xliuhw/NLU-Evaluation-Data, CC BY 4.0) is 64 intents
of home-assistant requests. Its repository's first cross-validation fold (train and test files
together: every annotated utterance once) is read, each intent's distinct utterances shuffled with a
fixed seed, and the first ``KB + VAL + TEST`` kept: ``KB`` become the article's alternative
questions, ``VAL`` the labelled validation questions, the rest test questions.

Run ``python bench/kb_sets/hwu64_subset.py GIT_DIR`` (a bare clone is enough: files are read with
``git show``); it writes ``data/bench/hwu64/hwu64.jsonl`` with ``{"text", "intent", "split"}`` lines.
"""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "data" / "bench" / "hwu64" / "hwu64.jsonl"
COMMIT = "f6071b496b17d71e6eb43f543af0707f4ff30557"
FOLD = "CrossValidation/autoGeneFromRealAnno/autoGene_2018_03_22-13_01_25_169/CrossValidation/KFold_1"
KB, VAL, TEST = 10, 10, 30
SEED = 2026


def git(repo: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", repo, *args], check=True, capture_output=True, text=True).stdout


def main(repo: str) -> int:
    files = [p for p in git(repo, "ls-tree", "-r", "--name-only", COMMIT, FOLD).splitlines() if p.endswith(".csv")]
    files = [p for p in files if "/trainset/" in p or "/testset/csv/" in p]
    by_intent: dict[str, set[str]] = defaultdict(set)
    for path in files:
        rows = csv.DictReader(io.StringIO(git(repo, "show", f"{COMMIT}:{path}")), delimiter=";")
        for row in rows:
            text = " ".join((row["answer_from_anno"] or "").split())
            if text:
                by_intent[f"{row['scenario']}_{row['intent']}"].add(text)
    lines = []
    for intent in sorted(by_intent):
        texts = sorted(by_intent[intent])
        random.Random(f"{SEED}:{intent}").shuffle(texts)
        for n, text in enumerate(texts[: KB + VAL + TEST]):
            split = "kb" if n < KB else "val" if n < KB + VAL else "test"
            lines.append(json.dumps({"text": text, "intent": intent, "split": split}, ensure_ascii=False))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(by_intent)} intents, {len(lines)} utterances written to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
