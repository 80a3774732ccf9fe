"""What a report covers: a period of local days, the filters on its conversations, and the targets
its KPIs are measured against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo


class InvalidPeriod(ValueError):
    """The date range is empty or reversed."""


@dataclass(frozen=True)
class Filters:
    """Which conversations a report covers (``None`` means all)."""

    channel: str | None = None
    team_id: str | None = None
    agent_id: int | None = None
    language: str | None = None
    handled_by: Literal["bot", "person"] | None = None


@dataclass(frozen=True)
class Period:
    """Conversations started in ``[start, end)`` (aware UTC), reported in ``tz``."""

    start: datetime
    end: datetime
    tz: str = "UTC"

    @classmethod
    def of_days(cls, first: date, last: date, tz: str) -> Period:
        """The local days ``first`` to ``last``, both included."""
        if last < first:
            raise InvalidPeriod(f"the period ends ({last}) before it starts ({first})")
        zone = ZoneInfo(tz)
        start = datetime.combine(first, time(), zone).astimezone(UTC)
        end = datetime.combine(last + timedelta(days=1), time(), zone).astimezone(UTC)
        return cls(start, end, tz)


@dataclass(frozen=True)
class Targets:
    """What the KPIs are measured against (from settings)."""

    service_level_seconds: int = 60
    fcr_days: int = 7
