"""What publishing an article costs to settle the unanswered questions (``kb_index.settling``):
before the publish returns, the hub re-runs the ``SETTLE_RERUN`` open questions closest in wording
to the article among the newest ``SETTLE_LIMIT`` of its language (``kb_index.sharing_words`` then
``kb_index.answered_now``); every other open question is re-run afterwards by a background job, in
batches of ``SETTLE_BATCH``, each in a worker thread.

Measured with the default encoder on one thread (as the hub serves it), over the starter articles:
the cost per question of ``answered_now`` by batch size (is batched encoding cheaper?), what the
publish waits for, and the background re-run of the other questions of 500, in CPU time of the
one thread (the machine is shared: wall time would measure the other work too); writes
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
from kb_index.settling import SETTLE_BATCH, SETTLE_LIMIT, SETTLE_RERUN

SUBJECTS = ["aquário", "bicicleta", "piano", "prancha de surfe", "barraca", "forno", "telescópio", "drone", "patinete"]
FORMS = ["vocês consertam {s}?", "tem {s} usado?", "quanto custa alugar {s} nº {n}?", "dá pra montar {s} em casa ({n})?"]


def questions(n: int) -> list[UnansweredQuestion]:
    """``n`` distinct questions no starter article answers, as the hub keeps them."""
    texts = [FORMS[i % len(FORMS)].format(s=SUBJECTS[i % len(SUBJECTS)], n=i) for i in range(n)]
    return [
        UnansweredQuestion(id=i, text=t, lang="pt-BR", channel="widget", decision="escalate", confidence=0.0)
        for i, t in enumerate(texts)
    ]


def per_question_ms(index: kb_index.KnowledgeIndex, batch: list[UnansweredQuestion], size: int) -> float:
    """CPU ms per question to re-run ``batch`` ``size`` questions at a time (the process's CPU time, one thread:
    on a machine shared with other work, wall time measures the others as much as this)."""
    start = time.process_time()
    for i in range(0, len(batch), size):
        kb_index.answered_now(index, batch[i : i + size])
    return (time.process_time() - start) * 1000 / len(batch)


def main() -> None:
    """Time (CPU) the batch sizes (interleaved, median of three rounds), the publish's wait and the background job."""
    settings = Settings(environment="test")
    with tempfile.TemporaryDirectory() as cache:
        index = kb_index.open_index(settings.encoder, calibration_file=settings.calibration_file, cache_dir=Path(cache))
        drafts, _ = kb_index.load_kb_dir(settings.kb_dir, teams=DEFAULT_TEAMS)
        index.upsert(IndexedArticle(d.id, d.lang, d.title, d.body, tuple(d.questions), d.team) for d in drafts)
        kb_index.answered_now(index, questions(5))  # warm-up: the encoder's first batch
        sample, sizes = questions(96), (1, SETTLE_BATCH, 96)
        rounds: dict[int, list[float]] = {size: [] for size in sizes}
        for _ in range(3):
            for size in sizes:
                rounds[size].append(per_question_ms(index, sample, size))
        by_batch = {str(size): round(sorted(times)[1], 1) for size, times in rounds.items()}
        print(f"CPU ms per question by batch size: {by_batch}")

        open_ones = questions(SETTLE_LIMIT)
        wording = ["Vocês alugam piano para eventos?", "aluguel de piano"]
        start = time.process_time()
        candidates = kb_index.sharing_words(open_ones, wording, "pt-BR", limit=SETTLE_RERUN)
        kb_index.answered_now(index, candidates)
        waited = round((time.process_time() - start) * 1000, 1)
        rest = [q for q in open_ones if q not in candidates]
        background = round(per_question_ms(index, rest, SETTLE_BATCH) * len(rest), 1)
        print(f"publish waits {waited} CPU ms ({len(candidates)} closest); background re-run of {len(rest)}: {background} CPU ms")
    out = {
        "what": "CPU ms (one thread) to re-run open unanswered questions after a publication (kb_index.settling)",
        "encoder": settings.encoder,
        "threads": os.environ["OMP_NUM_THREADS"],
        "ms_per_question_by_batch_size": by_batch,
        "publish_waits_ms": {"open": SETTLE_LIMIT, "closest_rerun": len(candidates), "ms": waited},
        "background_ms": {"questions": len(rest), "batch": SETTLE_BATCH, "ms": background},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other work while measured)",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (ROOT / "bench" / "results" / "kb_settle.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
