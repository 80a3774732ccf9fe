"""The arithmetic of the KPIs: NPS, shares, averages and percentiles that say ``None`` when there
was nothing to measure."""

from __future__ import annotations

import math
from collections.abc import Sequence


def nps_score(promoters: int, detractors: int, answered: int) -> float | None:
    """Net Promoter Score, -100 to 100 (``None`` without answers)."""
    return None if answered == 0 else round(100.0 * (promoters - detractors) / answered, 1)


def share(part: float, whole: float) -> float | None:
    """``part / whole`` (``None`` when ``whole`` is zero)."""
    return None if not whole else part / whole


def average(total: float, n: int) -> float | None:
    """``total / n`` (``None`` when nothing was measured)."""
    return None if not n else total / n


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0–1) by linear interpolation, as PostgreSQL's ``percentile_cont``."""
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    pos = (len(data) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return data[low] + (data[high] - data[low]) * (pos - low)
