"""`make bench` runs every script in bench/ as a script: each one that takes options starts and
explains them. Run that way, bench/ comes first on the import path, where bench/handoff.py and
bench/insights.py share the names of the project's packages; a script that let them hide the
packages stopped `make bench` at its first import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(p for p in (ROOT / "bench").glob("*.py") if "argparse" in p.read_text(encoding="utf-8"))


def test_the_benchmarks_with_options_are_all_found() -> None:
    assert {"channels.py", "chaos.py", "load.py", "turn_latency.py", "kb_quality.py"} <= {p.name for p in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_a_benchmark_starts_and_explains_its_options(script: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(script), "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("usage:")
