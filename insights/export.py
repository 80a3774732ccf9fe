"""Every dashboard table as rows, for CSV exports and ``balcao report``."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date

from sqlalchemy import Row

from insights.kpis import WAIT_BUCKETS, WEEKDAYS, Report
from insights.surveys import EXPORT_COLUMNS

Table = tuple[list[str], Sequence[Sequence[object]]]
GROUP_COLUMNS = [
    "conversations",
    "escalated",
    "deflected",
    "picked_up",
    "abandoned",
    "within_service_level",
    "wait_avg",
    "handling_avg",
    "asked",
    "answered",
    "promoters",
    "passives",
    "detractors",
    "nps",
]
TABLES = ("summary", "days", "heatmap", "waits", "channels", "teams", "agents", "endings", "complaints", "themes", "surveys")


class UnknownTable(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no table {name!r}; choose one of: {', '.join(TABLES)}")


def report_table(report: Report, name: str) -> Table:
    """The table ``name`` of the report (see ``TABLES``; "surveys" comes from ``surveys_table``)."""
    if name == "summary":
        rows: list[list[object]] = []
        for section in ("totals", "rates", "nps", "durations"):
            for key, value in getattr(report, section).model_dump().items():
                if key != "distribution":
                    rows.append([section, key, value])
        rows += [["nps", f"answers_{score}", n] for score, n in enumerate(report.nps.distribution)]
        return ["section", "measure", "value"], rows
    if name == "days":
        return ["day", "conversations", "escalated", "deflected", "promoters", "passives", "detractors", "nps"], [
            [d.day.isoformat(), d.conversations, d.escalated, d.deflected, d.promoters, d.passives, d.detractors, d.nps]
            for d in report.days
        ]
    if name == "heatmap":
        return ["weekday", *[f"{h:02d}h" for h in range(24)]], [[WEEKDAYS[i], *row] for i, row in enumerate(report.heatmap)]
    if name == "waits":
        bounds = [*map(str, WAIT_BUCKETS), "more"]
        return ["wait_up_to_s", "conversations"], [[b, n] for b, n in zip(bounds, report.wait_histogram)]
    if name in ("channels", "teams", "endings"):
        groups = getattr(report, name)
        return [name[:-1], *GROUP_COLUMNS], [[g.key, *(getattr(g, c) for c in GROUP_COLUMNS)] for g in groups]
    if name == "agents":
        columns = [
            "agent_id",
            "name",
            "handled",
            "handling_avg",
            "handling_total",
            "first_response_avg",
            "answered",
            "nps",
            "load",
            "occupancy",
        ]
        return columns, [[getattr(a, c) for c in columns] for a in report.agents]
    if name == "complaints":
        columns = ["conversation_id", "started_at", "channel", "team_id", "agent_id", "agent_name", "outcome", "score"]
        return columns, [[getattr(c, k) for k in columns] for c in report.complaints]
    if name == "themes":
        return ["word", "count"], [[t.word, t.count] for t in report.detractor_themes]
    raise UnknownTable(name)


def surveys_table(surveys: Sequence[Row]) -> Table:
    """The raw survey answers of ``list_surveys``, one row each ("no answer": asked, never answered)."""
    # The rows hold EXPORT_COLUMNS in order: taken as tuples, since reading a Row's attributes by
    # name cost a third of a 16,000-answer export.
    return list(EXPORT_COLUMNS), [tuple(row) for row in surveys]


# A spreadsheet reads a cell that starts with one of these as a formula (``=HYPERLINK(...)``,
# ``+cmd|...``, ``@SUM(...)``); OWASP's advice for CSV injection: prefix such a text with a single quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST = frozenset(FORMULA_STARTS)


def neutralised(text: str) -> str:
    """``text`` as a CSV cell a spreadsheet shows as text, never runs as a formula. Its line breaks
    become ``\n`` too: the csv module (lines end in ``\n``) would leave a bare CR unquoted, and
    every reader ends the row there."""
    if text.startswith(FORMULA_STARTS):
        text = "'" + text
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _needs_care(value: object) -> bool:
    return isinstance(value, str) and (value[:1] in _FORMULA_FIRST or "\r" in value)


def to_csv(table: Table) -> str:
    """The table as CSV text (header first; empty cells for missing values).

    Dates are spelled out (ISO 8601) and every text cell is neutralised (``neutralised``): survey
    reasons, names and anything else people typed open safely in a spreadsheet."""
    header, rows = table
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([neutralised(str(name)) for name in header])
    # The csv module writes None as an empty cell itself and numbers as they are: only the columns
    # that hold dates, or text that starts like a formula or holds a CR, are looked at cell by cell
    # (exports have 10^4-10^5 rows, and most have no such text at all).
    kinds = [{type(row[i]) for row in rows} for i in range(len(header))]
    dated = [i for i, kind in enumerate(kinds) if any(issubclass(k, date) for k in kind)]
    texts = [i for i, kind in enumerate(kinds) if any(issubclass(k, str) for k in kind)]
    formulas = [i for i in texts if any(_needs_care(row[i]) for row in rows)]
    if not dated and not formulas:
        writer.writerows(rows)
        return out.getvalue()

    def spelled(row: Sequence[object]) -> list[object]:
        cells = list(row)
        for i in dated:
            cell = cells[i]
            if isinstance(cell, date):  # datetime too; None stays an empty cell
                cells[i] = cell.isoformat()
        for i in formulas:
            cell = cells[i]
            if isinstance(cell, str):
                cells[i] = neutralised(cell)
        return cells

    # One row at a time, not a copy of the table: fewer live objects for the garbage collector.
    writer.writerows(map(spelled, rows))
    return out.getvalue()
