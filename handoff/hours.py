"""Business hours of a team: open now? when does it open next?"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handoff.errors import Refusal
from handoff.models import Team

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_HOURS = {day: ["08:00", "20:00"] for day in DAYS[:6]}  # Monday to Saturday, 8h to 20h


class InvalidHours(Refusal):
    """Business hours that cannot be understood; the message says which part."""


def check_hours(hours: dict | None, holidays: list[str], timezone: str) -> None:
    """Refuse hours like ``{"mon": ["08:00", "20:00"]}`` that are malformed, with the culprit named."""
    try:
        ZoneInfo(timezone)
    except Exception as exc:
        raise InvalidHours(
            f"unknown time zone {timezone!r} (e.g. America/Sao_Paulo, Europe/Lisbon)", key="unknown_timezone", zone=timezone
        ) from exc
    for day in holidays:
        try:
            date.fromisoformat(day)
        except (TypeError, ValueError) as exc:
            raise InvalidHours(f"holiday {day!r} is not a date like 2026-12-25", key="bad_holiday", day=day) from exc
    if hours is None:
        return
    for day, span in hours.items():
        if day not in DAYS:
            raise InvalidHours(f"{day!r} is not a day; use {', '.join(DAYS)}", key="bad_day", day=day)
        try:
            start, end = (time.fromisoformat(t) for t in span)
        except (TypeError, ValueError) as exc:
            raise InvalidHours(f'{day}: give ["HH:MM", "HH:MM"]', key="bad_time", day=day) from exc
        if start >= end:
            raise InvalidHours(f"{day}: opening {span[0]} must be before closing {span[1]}", key="opens_after_closing", day=day)


def _span(team: Team, day: date) -> tuple[time, time] | None:
    if team.hours is None:
        return (time(0, 0), time(23, 59, 59))
    if day.isoformat() in (team.holidays or []):
        return None
    span = team.hours.get(DAYS[day.weekday()])
    return (time.fromisoformat(span[0]), time.fromisoformat(span[1])) if span else None


def is_open(team: Team, at: datetime) -> bool:
    """Whether a person of the team works at ``at`` (an aware datetime)."""
    local = at.astimezone(ZoneInfo(team.timezone))
    span = _span(team, local.date())
    return span is not None and span[0] <= local.time() < span[1]


def next_opening(team: Team, at: datetime) -> datetime | None:
    """When the team next opens after ``at`` (in the team's time zone); None if it never does."""
    zone = ZoneInfo(team.timezone)
    local = at.astimezone(zone)
    for offset in range(15):
        day = local.date() + timedelta(days=offset)
        span = _span(team, day)
        if span is None:
            continue
        opening = datetime.combine(day, span[0], tzinfo=zone)
        if opening > local:
            return opening
    return None
