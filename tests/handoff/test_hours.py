"""Business hours: open now, next opening, holidays, and hours that make no sense."""

from datetime import UTC, datetime

import pytest

from handoff.hours import DEFAULT_HOURS, InvalidHours, check_hours, is_open, next_opening
from handoff.models import Team


def team(**values) -> Team:
    return Team(
        id="geral",
        name="Geral",
        timezone=values.pop("timezone", "America/Sao_Paulo"),
        hours=values.pop("hours", DEFAULT_HOURS),
        holidays=values.pop("holidays", []),
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_team_is_open_in_its_own_time_zone() -> None:
    geral = team()
    assert is_open(geral, utc(2026, 11, 25, 14, 0))  # Wednesday 11:00 in São Paulo
    assert not is_open(geral, utc(2026, 11, 25, 23, 30))  # 20:30 in São Paulo: closed
    assert not is_open(geral, utc(2026, 11, 29, 14, 0))  # Sunday


def test_the_next_opening_skips_sundays_and_holidays() -> None:
    geral = team(holidays=["2026-11-30"])
    opening = next_opening(geral, utc(2026, 11, 28, 23, 30))  # Saturday 20:30 local
    assert (opening.year, opening.month, opening.day, opening.hour) == (
        2026,
        12,
        1,
        8,
    )  # Tuesday 8h: Sunday closed, Monday a holiday


def test_a_team_without_hours_is_always_open() -> None:
    assert is_open(team(hours=None), utc(2026, 11, 29, 3, 0))


@pytest.mark.parametrize(
    ("hours", "holidays", "zone", "culprit"),
    [
        ({"mon": ["20:00", "08:00"]}, [], "America/Sao_Paulo", "before closing"),
        ({"monday": ["08:00", "20:00"]}, [], "America/Sao_Paulo", "is not a day"),
        ({"mon": ["8h", "20h"]}, [], "America/Sao_Paulo", "HH:MM"),
        (None, ["25/12"], "America/Sao_Paulo", "2026-12-25"),
        (None, [], "Mars/Olympus", "time zone"),
    ],
)
def test_hours_that_make_no_sense_are_refused_with_the_reason(hours, holidays, zone, culprit) -> None:
    with pytest.raises(InvalidHours, match=culprit):
        check_hours(hours, holidays, zone)
