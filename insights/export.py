"""Every dashboard table as rows, for CSV exports and ``balcao report``."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from sqlalchemy import Row

from insights.kpis import WAIT_BUCKETS, WEEKDAYS, Report
from insights.models import Survey

Table = tuple[list[str], list[list[object]]]
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


def surveys_table(surveys: Sequence[Survey] | Sequence[Row]) -> Table:
    """The raw survey answers, one row each ("no answer": asked, never answered)."""
    columns = ["conversation_id", "channel", "language", "team_id", "agent_id", "bot_only", "ending", "asked_at", "answered_at", "score", "reason"]
    return columns, [[getattr(s, c) for c in columns] for s in surveys]


def to_csv(table: Table) -> str:
    """The table as CSV text (header first; empty cells for missing values)."""
    header, rows = table
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v.isoformat() if hasattr(v, "isoformat") else v for v in row])
    return out.getvalue()
