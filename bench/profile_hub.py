"""``balcao serve`` under cProfile, the profile written to ``argv[1]`` when the hub stops.

``bench/turn_latency.py`` starts the hub this way with ``BALCAO_BENCH_PROFILE_HUB=1``. uvicorn
re-raises the stop signal once it has shut down: here that signal ends the process with
``SystemExit`` instead, so the profile is still written.
"""

from __future__ import annotations

import cProfile
import signal
import sys
from pathlib import Path

# Run as a script, this folder comes first on the path: the project's packages must come before
# bench/insights.py and bench/handoff.py, which share their names.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.cli import main


def run(out: str) -> int:
    """Serve the hub under the profiler; write its statistics to ``out`` at the end."""
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda *_: sys.exit(0))
    profiler = cProfile.Profile()
    try:
        return profiler.runcall(main, ["serve"])
    except SystemExit:
        return 0
    finally:
        profiler.dump_stats(out)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1]))
