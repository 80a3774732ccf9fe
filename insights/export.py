"""Every dashboard table as rows, for CSV exports and ``balcao report``."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Row

from insights.kpis import WAIT_BUCKETS, WEEKDAYS, Report
from insights.surveys import EXPORT_COLUMNS

Table = tuple[list[str], Sequence[Sequence[object]]]
GROUP_COLUMNS = [
    "conversations", "escalated", "deflected", "picked_up", "abandoned", "within_service_level", "wait_avg",
    "handling_avg", "asked", "answered", "promoters", "passives", "detractors", "nps",
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
        columns = ["agent_id", "name", "handled", "handling_avg", "handling_total", "first_response_avg", "answered", "nps", "load", "occupancy"]
        return columns, [[getattr(a, c) for c in columns] for a in report.agents]
    if name == "complaints":
        columns = ["conversation_id", "started_at", "channel", "team_id", "agent_id", "outcome", "score"]
        return columns, [[getattr(c, k) for k in columns] for c in report.complaints]
    if name == "themes":
        return ["word", "count"], [[t.word, t.count] for t in report.detractor_themes]
    raise UnknownTable(name)


def surveys_table(surveys: Sequence[Row]) -> Table:
    """The raw survey answers of ``list_surveys``, one row each ("no answer": asked, never answered)."""
    # The rows hold EXPORT_COLUMNS in order: taken as tuples, since reading a Row's attributes by
    # name cost a third of a 16,000-answer export.
    return list(EXPORT_COLUMNS), [tuple(row) for row in surveys]


def to_csv(table: Table) -> str:
    """The table as CSV text (header first; empty cells for missing values)."""
    header, rows = table
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    # The csv module writes None as an empty cell itself; only dates need spelling out (ISO 8601),
    # and only the columns that hold them are looked at cell by cell (exports have 10^4-10^5 rows).
    dated = [i for i in range(len(header)) if isinstance(next((r[i] for r in rows if r[i] is not None), None), (date, datetime))]
    if not dated:
        writer.writerows(rows)
        return out.getvalue()

    def spelled(row: Sequence[object]) -> list[object]:
        cells = list(row)
        for i in dated:
            cell = cells[i]
            if isinstance(cell, date):  # datetime too; None stays an empty cell
                cells[i] = cell.isoformat()
        return cells

    # One row at a time, not a copy of the table: fewer live objects for the garbage collector.
    writer.writerows(map(spelled, rows))
    return out.getvalue()
