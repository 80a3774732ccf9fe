"""Small inline SVG charts for the dashboard, drawn on the server: no chart library, no CDN, and the
numbers are in the page (each mark has a <title> a screen reader and a tooltip can show). Labels are
in the reader's language, days in the desk's time zone (``insights.display``).

Each chart is drawn at its natural size in CSS pixels (``width``/``height``, not only a viewBox), so
its labels stay ``FONT`` px on a phone too: a narrow card scrolls the chart sideways instead of
shrinking it to unreadable text."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from markupsafe import Markup, escape

from insights.display import Display
from insights.kpis import WAIT_BUCKETS, DayPoint

PROMOTER, PASSIVE, DETRACTOR = "#2e7d32", "#f9a825", "#c62828"
INK, GRID, ACCENT, ACCENT2 = "#333", "#ddd", "#1565c0", "#8e24aa"
FONT = 12  # px: the smallest label a person reads comfortably on a phone


def _svg(width: int, height: int, label: str, body: list[str]) -> Markup:
    return Markup(  # noqa: S704 - the label is escaped here, every part of body by _text/_rect/escape
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="{FONT}">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def _text(x: float, y: float, text: object, *, anchor: str = "middle", fill: str = INK, size: int = FONT) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}" font-size="{size}">{escape(str(text))}</text>'


def _rect(x: float, y: float, w: float, h: float, fill: str, title: str, opacity: float = 1.0) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" fill="{fill}" '
        f'fill-opacity="{opacity:.2f}"><title>{escape(title)}</title></rect>'
    )


def _empty(width: int, height: int, label: str, show: Display) -> Markup:
    return _svg(width, height, label, [_text(width / 2, height / 2, show.t["no_data"], fill="#666")])


def nps_over_time(days: Sequence[DayPoint], show: Display) -> Markup:
    """Stacked daily answers (promoters, passives, detractors) and the day's NPS as a line (−100…100)."""
    width, height, left, right, top, bottom = 720, 240, 36, 44, 12, 28
    label = show.t["chart_nps"]
    if not any(d.promoters + d.passives + d.detractors for d in days):
        return _empty(width, height, label, show)
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(d.promoters + d.passives + d.detractors for d in days) or 1
    step = plot_w / len(days)
    bar = max(2.0, step * 0.7)
    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{GRID}"/>']
    body.append(_text(left - 4, top + 8, peak, anchor="end"))
    body.append(_text(width - right + 4, top + 8, "+100", anchor="start", fill=ACCENT))
    body.append(_text(width - right + 4, top + plot_h / 2 + 4, "0", anchor="start", fill=ACCENT))
    body.append(_text(width - right + 4, top + plot_h, "−100", anchor="start", fill=ACCENT))
    points = []
    for i, d in enumerate(days):
        x = left + i * step + (step - bar) / 2
        y: float = top + plot_h
        for count, colour, name in (
            (d.detractors, DETRACTOR, show.t["detractors"]),
            (d.passives, PASSIVE, show.t["passives"]),
            (d.promoters, PROMOTER, show.t["promoters"]),
        ):
            h = plot_h * count / peak
            y -= h
            body.append(_rect(x, y, bar, h, colour, f"{show.day(d.day)}: {count} {name.lower()}"))
        if d.nps is not None:
            points.append(f"{x + bar / 2:.1f},{top + plot_h * (100 - d.nps) / 200:.1f}")
        if len(days) <= 14 or i % max(1, len(days) // 10) == 0:
            body.append(_text(x + bar / 2, height - 10, show.short_day(d.day)))
    if points:
        body.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{ACCENT}" stroke-width="2"/>')
    return _svg(width, height, label, body)


def rates_over_time(days: Sequence[DayPoint], show: Display) -> Markup:
    """Deflection and escalation rates per day (0–100 %)."""
    width, height, left, top, bottom = 720, 200, 40, 24, 28
    label = show.t["chart_rates"]
    days = [d for d in days if d.conversations]
    if not days:
        return _empty(width, height, label, show)
    plot_w, plot_h = width - left - 12, height - top - bottom
    step = plot_w / max(1, len(days) - 1) if len(days) > 1 else 0
    body = [_text(left - 4, top + 8, "100%", anchor="end"), _text(left - 4, top + plot_h, "0%", anchor="end")]
    body.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{GRID}"/>')
    for attr, colour, name in (("deflected", PROMOTER, show.t["deflection"]), ("escalated", ACCENT2, show.t["escalation"])):
        pts = []
        for i, d in enumerate(days):
            rate = getattr(d, attr) / d.conversations
            x, y = left + i * step + (plot_w / 2 if len(days) == 1 else 0), top + plot_h * (1 - rate)
            pts.append(f"{x:.1f},{y:.1f}")
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{escape(f"{show.day(d.day)}: {name} {show.percent(rate)}")}</title></circle>'
            )
        body.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{colour}" stroke-width="2"/>')
    for i, d in enumerate(days):
        if len(days) <= 14 or i % max(1, len(days) // 10) == 0:
            body.append(_text(left + i * step + (plot_w / 2 if len(days) == 1 else 0), height - 10, show.short_day(d.day)))
    body.append(_text(left, 12, f"■ {show.t['deflection']}", anchor="start", fill=PROMOTER))
    body.append(_text(left + 260, 12, f"■ {show.t['escalation']}", anchor="start", fill=ACCENT2))
    return _svg(width, height, label, body)


def volume_heatmap(heatmap: Sequence[Sequence[int]], show: Display) -> Markup:
    """Conversations per weekday (rows) and hour of the day in the desk's time zone (columns)."""
    cell, left, top = 26, 40, 18
    width, height = left + 24 * cell + 4, top + 7 * cell + 4
    label = show.t["chart_heatmap"]
    weekdays = show.weekdays
    peak = max((max(row) for row in heatmap), default=0)
    body = [_text(left + h * cell + cell / 2, top - 6, f"{h:02d}") for h in range(0, 24, 2)]
    for d, row in enumerate(heatmap):
        body.append(_text(left - 6, top + d * cell + cell / 2 + 4, weekdays[d], anchor="end"))
        for h, count in enumerate(row):
            opacity = 0.06 if not count else 0.15 + 0.85 * count / peak
            body.append(
                _rect(
                    left + h * cell + 1,
                    top + d * cell + 1,
                    cell - 2,
                    cell - 2,
                    ACCENT,
                    f"{weekdays[d]} {h:02d}h: {count}",
                    opacity,
                )
            )
    return _svg(width, height, label, body)


def wait_histogram(counts: Sequence[int], show: Display) -> Markup:
    """Picked-up conversations by how long they waited in the queue."""
    width, height, left, top, bottom = 720, 200, 12, 16, 30
    label = show.t["chart_waits"]
    if not sum(counts):
        return _empty(width, height, label, show)
    names = [f"≤{_dur(WAIT_BUCKETS[0])}"] + [f"{_dur(a)}–{_dur(b)}" for a, b in pairwise(WAIT_BUCKETS)]
    names.append(f">{_dur(WAIT_BUCKETS[-1])}")
    plot_h, step = height - top - bottom, (width - left * 2) / len(counts)
    peak = max(counts) or 1
    body = []
    for i, (name, count) in enumerate(zip(names, counts)):
        h = plot_h * count / peak
        x = left + i * step + step * 0.1
        body.append(_rect(x, top + plot_h - h, step * 0.8, h, ACCENT, f"{name}: {count}"))
        body.append(_text(x + step * 0.4, top + plot_h - h - 3, count))
        body.append(_text(x + step * 0.4, height - 12, name))
    return _svg(width, height, label, body)


def _dur(seconds: float) -> str:
    return f"{int(seconds)}s" if seconds < 60 else f"{int(seconds // 60)}min"
