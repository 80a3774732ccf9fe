"""What publishing an article costs to settle the unanswered questions: after a publication the hub
looks through the newest open questions of the article's language (at most ``SETTLE_LIMIT``), keeps
the ``SETTLE_RERUN`` closest in wording to the article's title and alternative questions
(``kb_index.sharing_words``) and re-runs them against the index in one batch
(``kb_index.answered_now``), off the event loop, before the publish returns.

Measured with the default encoder on one thread (as the hub serves it), over the starter articles:
re-running every one of 50, 200 and 500 distinct questions (what the word filter saves), and the
filter plus the re-run for one new article among 500 open questions; writes
``bench/results/kb_settle.json``.

    OMP_NUM_THREADS=1 .venv/bin/python bench/kb_settle.py
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import kb_index
from handoff import DEFAULT_TEAMS
from hub.settings import Settings
from kb_index import IndexedArticle
from kb_index.models import UnansweredQuestion
from kb_index.routes import SETTLE_LIMIT, SETTLE_RERUN

SUBJECTS = ["aquário", "bicicleta", "piano", "prancha de surfe", "barraca", "forno", "telescópio", "drone", "patinete"]
FORMS = ["vocês consertam {s}?", "tem {s} usado?", "quanto custa alugar {s} nº {n}?", "dá pra montar {s} em casa ({n})?"]


def questions(n: int) -> list[UnansweredQuestion]:
    """``n`` distinct questions no starter article answers, as the hub keeps them."""
    texts = [FORMS[i % len(FORMS)].format(s=SUBJECTS[i % len(SUBJECTS)], n=i) for i in range(n)]
    return [
        UnansweredQuestion(id=i, text=t, lang="pt-BR", channel="widget", decision="escalate", confidence=0.0)
        for i, t in enumerate(texts)
    ]


def main() -> None:
    """Time ``answered_now`` three times per size; print and store the median in ms."""
    settings = Settings(environment="test")
    with tempfile.TemporaryDirectory() as cache:
        index = kb_index.open_index(settings.encoder, calibration_file=settings.calibration_file, cache_dir=Path(cache))
        drafts, _ = kb_index.load_kb_dir(settings.kb_dir, teams=DEFAULT_TEAMS)
        index.upsert(IndexedArticle(d.id, d.lang, d.title, d.body, tuple(d.questions), d.team) for d in drafts)
        kb_index.answered_now(index, questions(5))  # warm-up: the encoder's first batch
        results = {}
        for size in (50, 200, SETTLE_LIMIT):
            batch = questions(size)
            times = []
            for _ in range(3):
                start = time.perf_counter()
                kb_index.answered_now(index, batch)
                times.append((time.perf_counter() - start) * 1000)
            results[str(size)] = round(sorted(times)[1], 1)
            print(f"{size} open questions all re-run: {results[str(size)]} ms")
        open_ones = questions(SETTLE_LIMIT)
        wording = ["Vocês alugam piano para eventos?", "aluguel de piano"]
        times = []
        for _ in range(3):
            start = time.perf_counter()
            candidates = kb_index.sharing_words(open_ones, wording, "pt-BR", limit=SETTLE_RERUN)
            kb_index.answered_now(index, candidates)
            times.append((time.perf_counter() - start) * 1000)
        filtered = {"open": SETTLE_LIMIT, "sharing_words": len(candidates), "median_ms": round(sorted(times)[1], 1)}
        print(f"one article among {SETTLE_LIMIT} open questions: {len(candidates)} re-run, {filtered['median_ms']} ms")
    out = {
        "what": "ms to re-run the open unanswered questions of a language after a publication (kb_index.answered_now)",
        "encoder": settings.encoder,
        "threads": os.environ["OMP_NUM_THREADS"],
        "all_rerun_median_ms_by_questions": results,
        "one_article_with_word_filter": filtered,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other work while measured)",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (ROOT / "bench" / "results" / "kb_settle.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
