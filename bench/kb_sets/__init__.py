"""Data sets of ``bench/kb_quality.py`` (a package, so ``make bench`` does not run them as benchmarks)."""
