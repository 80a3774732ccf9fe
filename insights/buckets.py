"""The buckets the KPIs count in: the hours of ``conversation_hours`` and what each holds (the daily
series, the answers per score, the picked-up waits per bucket)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_
from sqlalchemy.orm import InstrumentedAttribute

from core.models import aware

WAIT_BUCKETS = (15, 30, 60, 120, 300, 600, 1800)  # seconds (upper bounds); the last bucket is "30 min or more"
# What a conversation adds to its hour's row of conversation_hours, in that order: the daily
# series, then the answers per score and the picked-up waits per bucket.
SCORE_COUNTS = tuple(f"score_{k}" for k in range(11))
WAIT_COUNTS = tuple(f"wait_bucket_{i}" for i in range(len(WAIT_BUCKETS) + 1))
HOUR_COUNTS = (
    "conversations",
    "escalated",
    "deflected",
    "answered",
    "promoters",
    "passives",
    "detractors",
    *SCORE_COUNTS,
    *WAIT_COUNTS,
)


def wait_bucket_conditions(wait: ColumnElement[Any] | InstrumentedAttribute[Any]) -> list[ColumnElement[bool]]:
    """Per bucket of ``WAIT_BUCKETS``, the SQL condition that a wait (seconds, NULL if none) is in it."""
    conditions: list[ColumnElement[bool]] = []
    lower = None
    for limit in (*WAIT_BUCKETS, None):
        cond: ColumnElement[bool] = wait.is_not(None)
        if lower is not None:
            cond = and_(cond, wait > lower)
        if limit is not None:
            cond = and_(cond, wait <= limit)
        conditions.append(cond)
        lower = limit
    return conditions


def epoch_hour_of(at: datetime) -> int:
    """Whole hours from 1970-01-01 00:00 UTC to ``at`` (the key of ``conversation_hours``)."""
    return int(aware(at).timestamp() // 3600)
