"""How the dashboard writes dates, times, shares and codes for one reader: in their language and in
the desk's time zone. The one place they are formatted (the template and the charts call it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from core.languages import Language
from insights.dashboard_texts import dashboard_texts

_DAY = {"en": "%Y-%m-%d"}
_SHORT_DAY = {"en": "%b %d"}
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Display:
    """A reader's language and the desk's time zone, with the formats that follow from them."""

    lang: Language
    tz: str
    t: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "t", dashboard_texts(self.lang))

    def local(self, moment: datetime) -> datetime:
        """``moment`` (aware, or naive UTC as the database returns it) in the desk's time zone."""
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(ZoneInfo(self.tz))

    def when(self, moment: datetime | None) -> str:
        """A moment as a date and a time of day in the desk's time zone ("07/12/2026 08:05")."""
        if moment is None:
            return "—"
        return f"{self.day(self.local(moment).date())} {self.local(moment):%H:%M}"

    def day(self, day: date) -> str:
        """A day: "07/12/2026" in Portuguese, "2026-12-07" in English."""
        return day.strftime(_DAY.get(self.lang, "%d/%m/%Y"))

    def short_day(self, day: date) -> str:
        """A day on a chart's axis: "07/12" in Portuguese, "Dec 07" in English."""
        if self.lang == "en":
            return f"{_MONTHS_EN[day.month - 1]} {day.day:02d}"
        return day.strftime("%d/%m")

    def number(self, value: float, digits: int = 1) -> str:
        """A decimal number with the language's decimal mark."""
        text = f"{value:.{digits}f}"
        return text if self.lang == "en" else text.replace(".", ",")

    def percent(self, rate: float | None) -> str:
        """A share as "42.5 %" ("42,5 %" in Portuguese); "—" when there was nothing to divide by."""
        return "—" if rate is None else f"{self.number(rate * 100)} %"

    @staticmethod
    def duration(seconds: float | None) -> str:
        """A duration for people: "45 s", "3 min 20 s", "1 h 05 min"; "—" when not measured."""
        if seconds is None:
            return "—"
        seconds = round(seconds)
        if seconds < 60:
            return f"{seconds} s"
        if seconds < 3600:
            return f"{seconds // 60} min {seconds % 60:02d} s"
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"

    def code(self, kind: str, key: str | None) -> str:
        """An ending or an outcome (``kind``) as words; an unknown code as it is."""
        if key is None:
            return "—"
        return self.t.get(f"{kind}_{key}", key)

    @property
    def weekdays(self) -> list[str]:
        """Monday to Sunday, short."""
        return self.t["weekdays"].split()
