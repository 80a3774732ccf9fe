"""Public intent sets used as a young knowledge base, for ``bench/kb_quality.py`` (issue #19).

Protocol, the same for both sets: every intent is an article titled with its name, whose
alternative questions are ``QUESTIONS`` of its training utterances; about one intent in eight is
left out of the knowledge base, so its validation and test utterances must be escalated (with
CLINC150's own out-of-scope utterances, for CLINC150); labelled validation questions are the
validation utterances, test questions the test ones. The out-of-scope examples that ship with
Balcão (``data/kb/out-of-scope.jsonl``) feed the index, as they would a company's.

* **clinc150_fewshot**: CLINC150's "full" split (150 intents); 10 training utterances per intent,
  15 intents left out, ``val`` + ``oos_val`` for validation, ``test`` + ``oos_test`` for testing.
* **hwu64_fewshot**: HWU64 (64 home-assistant intents, ``data/bench/hwu64/``: 10 questions, 10
  validation and up to 30 test utterances per intent); 8 intents left out.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

from kb_index import IndexedArticle
from kb_index.evaluation import LabelledQuestion

QUESTIONS = 10
SEED = 2026
CLINC_LEFT_OUT = 15
HWU64_LEFT_OUT = 8
HWU64 = Path(__file__).resolve().parents[2] / "data" / "bench" / "hwu64" / "hwu64.jsonl"
QUICK_INTENTS = 12  # --quick: a few intents, enough to run every code path


def _split_intents(intents: list[str], left_out: int, quick: bool) -> tuple[list[str], set[str]]:
    """(intents kept as articles, intents left out), chosen with a fixed seed."""
    order = sorted(intents)
    random.Random(SEED).shuffle(order)
    if quick:
        order = order[:QUICK_INTENTS]
        left_out = 2
    return sorted(order[left_out:]), set(order[:left_out])


def _article(intent: str, questions: list[str]) -> IndexedArticle:
    return IndexedArticle(id=intent, lang="en", title=intent.replace("_", " "), body="", questions=tuple(questions), team="geral")


def _labelled(rows: list[tuple[str, str]], kept: set[str], left_out: set[str]) -> list[LabelledQuestion]:
    """In-scope questions of the kept intents, out-of-scope ones of the left-out intents."""
    return [LabelledQuestion(t, "en", i if i in kept else None) for t, i in rows if i in kept or i in left_out]


def load_clinc150_fewshot(path: Path, quick: bool) -> tuple[list[IndexedArticle], list[LabelledQuestion], list[LabelledQuestion]]:
    """(articles, validation questions, test questions) of the few-shot CLINC150 set."""
    data = json.loads(path.read_text(encoding="utf-8"))
    train: dict[str, list[str]] = defaultdict(list)
    for text, intent in data["train"]:
        train[intent].append(text)
    kept, left_out = _split_intents(list(train), CLINC_LEFT_OUT, quick)
    # The first utterances of each intent in the file: the data set's own order, no choosing.
    articles = [_article(i, train[i][:QUESTIONS]) for i in kept]
    keep = set(kept)
    oos_val, oos_test = data["oos_val"], data["oos_test"]
    if quick:
        oos_val, oos_test = oos_val[:30], oos_test[:60]
    validation = _labelled(data["val"], keep, left_out) + [LabelledQuestion(t, "en", None) for t, _ in oos_val]
    test = _labelled(data["test"], keep, left_out) + [LabelledQuestion(t, "en", None) for t, _ in oos_test]
    return articles, validation, test


def load_hwu64_fewshot(quick: bool) -> tuple[list[IndexedArticle], list[LabelledQuestion], list[LabelledQuestion]]:
    """(articles, validation questions, test questions) of the few-shot HWU64 set."""
    rows = [json.loads(line) for line in HWU64.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_split: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        by_split[row["split"]].append((row["text"], row["intent"]))
    questions: dict[str, list[str]] = defaultdict(list)
    for text, intent in by_split["kb"]:
        questions[intent].append(text)
    kept, left_out = _split_intents(list(questions), HWU64_LEFT_OUT, quick)
    articles = [_article(i, questions[i]) for i in kept]
    keep = set(kept)
    return articles, _labelled(by_split["val"], keep, left_out), _labelled(by_split["test"], keep, left_out)
