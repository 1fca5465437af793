"""Lab plots as server-side SVG (no JavaScript, no plotting library): small, printable, accessible.

:func:`lab_series` reads the course (canonical units, superseded events removed) into plain
points; :func:`charts` returns one chart per panel with its reference lines taken from the label
revision's thresholds (never literals): ANC and platelets with the recovery thresholds,
bilirubin and AST/ALT as multiples of the ULN with the Table 3 thresholds, weight with the VOD
weight-gain line over the baseline weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from html import escape
from typing import Any

__all__ = ["Chart", "Line", "Series", "charts", "render_svg"]

_WIDTH, _HEIGHT = 560, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 16, 28, 40
# Colours with at least 4.5:1 contrast on white; series also differ by marker and dash.
_COLOURS = ("#1f4e9a", "#a12a2a", "#1d6b3a", "#6b3fa0")
_DASHES = ("", "6 3", "2 3", "8 3 2 3")
_MARKERS = ("circle", "square", "diamond", "triangle")


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    points: tuple[tuple[date, float], ...]
    notes: tuple[str, ...] = ()  # per point, e.g. "transfused" (same length or empty)


@dataclass(frozen=True, slots=True)
class Line:
    """A horizontal reference line with its source."""

    value: float
    label: str
    citation: str


@dataclass(frozen=True, slots=True)
class Chart:
    key: str
    title: str
    unit: str
    series: tuple[Series, ...]
    lines: tuple[Line, ...]
    start: date
    end: date
    dose_days: tuple[date, ...] = ()
    note: str = ""
    table: tuple[tuple[str, ...], ...] = field(default_factory=tuple)  # rows for the data table

    @property
    def empty(self) -> bool:
        return not any(s.points for s in self.series)

    @property
    def svg(self) -> str:
        return render_svg(self)


def _f(value: Decimal | float) -> float:
    return float(value)


def _threshold(label: Any, key: str) -> tuple[float, str]:
    threshold = label.threshold(key)
    return _f(threshold.number), threshold.citation.text


def charts(course: Any, label: Any, *, today: date, given: Sequence[date] = ()) -> list[Chart]:
    """The four lab panels of the course page for a parsed course and its label revision."""
    from inoplan.domain.course import LabsEvent, VitalsEvent

    counts: dict[str, list[tuple[date, float]]] = {"anc": [], "platelets": []}
    transfused: list[str] = []
    x_uln: dict[str, list[tuple[date, float]]] = {"bilirubin": [], "ast": [], "alt": []}
    weights: list[tuple[date, float]] = []
    for event in course.of_type(LabsEvent):
        for analyte in counts:
            lab = event.values.get(analyte)
            if lab is not None:
                counts[analyte].append((event.date, _f(lab.value)))
                if analyte == "platelets":
                    transfused.append("transfused" if lab.transfused else "")
        for analyte in x_uln:
            lab = event.values.get(analyte)
            if lab is not None and lab.x_uln is not None:
                x_uln[analyte].append((event.date, _f(lab.x_uln)))
    for vitals in course.of_type(VitalsEvent):
        if vitals.weight_kg is not None:
            weights.append((vitals.date, _f(vitals.weight_kg)))

    all_dates = [d for pts in (*counts.values(), *x_uln.values(), weights) for d, _ in pts]
    start = min([course.plan.start_date, *all_dates])
    end = max([today, course.plan.start_date, *all_dates])
    if end - start < timedelta(days=7):
        end = start + timedelta(days=7)
    dose_days = tuple(given)

    anc_line, anc_cite = _threshold(label, "anc_recovery")
    plt_line, plt_cite = _threshold(label, "platelets_recovery")
    bili_line, bili_cite = _threshold(label, "bilirubin_x_uln")
    enz_line, enz_cite = _threshold(label, "ast_alt_x_uln")
    gain, gain_cite = _threshold(label, "vod_weight_gain_percent")

    out = [
        Chart(
            "anc",
            "ANC",
            "×10⁹/L",
            (Series("ANC", tuple(counts["anc"])),),
            (Line(anc_line, f"ANC {anc_line:g} ×10⁹/L", anc_cite),),
            start,
            end,
            dose_days,
        ),
        Chart(
            "platelets",
            "Platelets",
            "×10⁹/L",
            (Series("Platelets", tuple(counts["platelets"]), tuple(transfused)),),
            (Line(plt_line, f"Platelets {plt_line:g} ×10⁹/L", plt_cite),),
            start,
            end,
            dose_days,
            note="Open markers: counts under transfusion support (they do not count for dosing).",
        ),
        Chart(
            "liver",
            "Bilirubin, AST and ALT",
            "× ULN",
            (
                Series("Bilirubin", tuple(x_uln["bilirubin"])),
                Series("AST", tuple(x_uln["ast"])),
                Series("ALT", tuple(x_uln["alt"])),
            ),
            (
                Line(bili_line, f"bilirubin {bili_line:g}× ULN", bili_cite),
                Line(enz_line, f"AST/ALT {enz_line:g}× ULN", enz_cite),
            ),
            start,
            end,
            dose_days,
        ),
    ]
    baseline = _baseline_weight(weights, course.plan.start_date)
    weight_lines: tuple[Line, ...] = ()
    weight_note = "No weight recorded."
    if baseline is not None:
        limit = baseline[1] * (1 + gain / 100)
        weight_lines = (
            Line(baseline[1], f"baseline {baseline[1]:g} kg ({baseline[0].isoformat()})", ""),
            Line(round(limit, 1), f"+{gain:g} % = {limit:.1f} kg", gain_cite),
        )
        weight_note = (
            f"Baseline: the last weight on or before cycle 1 day 1 (or the first weight); "
            f"a gain above {gain:g} % is a sign of VOD ({gain_cite})."
        )
    out.append(
        Chart(
            "weight",
            "Weight",
            "kg",
            (Series("Weight", tuple(weights)),),
            weight_lines,
            start,
            end,
            dose_days,
            note=weight_note,
        )
    )
    return out


def _baseline_weight(
    weights: Sequence[tuple[date, float]], start: date
) -> tuple[date, float] | None:
    before = [w for w in weights if w[0] <= start]
    if before:
        return before[-1]
    return weights[0] if weights else None


def _nice_max(value: float) -> float:
    """A round upper bound for the y axis."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1) if value >= 1 else 0.1
    for step in (1, 2, 2.5, 5, 10):
        top = step * magnitude
        if top >= value:
            return float(top)
    return float(10 * magnitude)


def render_svg(chart: Chart) -> str:
    """The chart as an inline SVG element (``role="img"`` with a title and a description)."""
    values = [v for s in chart.series for _, v in s.points] + [line.value for line in chart.lines]
    low = 0.0
    if chart.key == "weight" and values:
        low = float(int(max(0.0, min(values) * 0.95) // 5 * 5))
        high = float(-(-(max(values) * 1.03) // 5) * 5)
    else:
        high = _nice_max(max(values) * 1.1 if values else 1.0)
    if high <= low:
        high = low + 1
    plot_w = _WIDTH - _LEFT - _RIGHT
    plot_h = _HEIGHT - _TOP - _BOTTOM
    span_days = max((chart.end - chart.start).days, 1)

    def x(day: date) -> float:
        return _LEFT + plot_w * (day - chart.start).days / span_days

    def y(value: float) -> float:
        return _TOP + plot_h * (1 - (value - low) / (high - low))

    title_id = f"chart-{chart.key}-title"
    desc_id = f"chart-{chart.key}-desc"
    description = _describe(chart)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'role="img" aria-labelledby="{title_id} {desc_id}" data-chart="{chart.key}">',
        f'<title id="{title_id}">{escape(chart.title)} ({escape(chart.unit)})</title>',
        f'<desc id="{desc_id}">{escape(description)}</desc>',
        f'<rect x="{_LEFT}" y="{_TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" '
        'stroke="#555" stroke-width="1"/>',
    ]
    # y ticks
    intervals = 4
    if chart.key == "weight" and 2 <= (high - low) / 5 <= 6:
        intervals = int((high - low) / 5)
    for i in range(intervals + 1):
        value = low + (high - low) * i / intervals
        ty = y(value)
        parts.append(
            f'<line x1="{_LEFT - 4}" y1="{ty:.1f}" x2="{_LEFT + plot_w}" y2="{ty:.1f}" '
            'stroke="#ddd" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{_LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end" class="tick">'
            f"{value:.3g}</text>"
        )
    # x ticks: about six dates
    step = max(1, -(-span_days // 6))
    day = chart.start
    while day <= chart.end:
        tx = x(day)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{_TOP + plot_h}" x2="{tx:.1f}" y2="{_TOP + plot_h + 4}" '
            'stroke="#555"/>'
        )
        parts.append(
            f'<text x="{tx:.1f}" y="{_TOP + plot_h + 16}" text-anchor="middle" class="tick">'
            f"{day.strftime('%d %b')}</text>"
        )
        day += timedelta(days=step)
    # dose days
    for given in chart.dose_days:
        if chart.start <= given <= chart.end:
            gx = x(given)
            parts.append(
                f'<line x1="{gx:.1f}" y1="{_TOP}" x2="{gx:.1f}" y2="{_TOP + plot_h}" '
                'stroke="#8a6d00" stroke-width="1" stroke-dasharray="1 3" class="dose-day"/>'
            )
    # reference lines (label thresholds)
    for number, line in enumerate(chart.lines):
        ly = y(line.value)
        parts.append(
            f'<line x1="{_LEFT}" y1="{ly:.1f}" x2="{_LEFT + plot_w}" y2="{ly:.1f}" '
            f'stroke="#b35900" stroke-width="1.5" stroke-dasharray="5 4" class="threshold" '
            f'data-value="{line.value:g}"/>'
        )
        left = number % 2 == 1  # alternate sides so that close lines keep readable labels
        parts.append(
            f'<text x="{_LEFT + 4 if left else _LEFT + plot_w - 4}" y="{ly - 4:.1f}" '
            f'text-anchor="{"start" if left else "end"}" class="threshold-label">'
            f"{escape(line.label)}</text>"
        )
    # series
    for index, series in enumerate(chart.series):
        colour = _COLOURS[index % len(_COLOURS)]
        dash = _DASHES[index % len(_DASHES)]
        points = [(x(d), y(v)) for d, v in series.points]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"'
                f"{dash_attr}/>"
            )
        for i, (px, py) in enumerate(points):
            hollow = bool(series.notes) and i < len(series.notes) and series.notes[i] != ""
            fill = "#fff" if hollow else colour
            parts.append(_marker(_MARKERS[index % len(_MARKERS)], px, py, colour, fill))
        # legend
        lx = _LEFT + 8 + index * 110
        parts.append(_marker(_MARKERS[index % len(_MARKERS)], lx, 14, colour, colour))
        parts.append(f'<text x="{lx + 8}" y="18" class="legend">{escape(series.name)}</text>')
    if chart.empty:
        parts.append(
            f'<text x="{_LEFT + plot_w / 2}" y="{_TOP + plot_h / 2}" text-anchor="middle" '
            'class="empty">no results recorded</text>'
        )
    parts.append(
        f'<text x="12" y="{_TOP + plot_h / 2}" transform="rotate(-90 12 {_TOP + plot_h / 2})" '
        f'text-anchor="middle" class="axis">{escape(chart.unit)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _marker(kind: str, x: float, y: float, stroke: str, fill: str) -> str:
    if kind == "square":
        return (
            f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="1.5"/>'
        )
    if kind == "diamond":
        return (
            f'<polygon points="{x:.1f},{y - 4.5:.1f} {x + 4.5:.1f},{y:.1f} {x:.1f},{y + 4.5:.1f} '
            f'{x - 4.5:.1f},{y:.1f}" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
        )
    if kind == "triangle":
        return (
            f'<polygon points="{x:.1f},{y - 4.5:.1f} {x + 4.5:.1f},{y + 3.5:.1f} '
            f'{x - 4.5:.1f},{y + 3.5:.1f}" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
        )
    return (
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{fill}" stroke="{stroke}" '
        'stroke-width="1.5"/>'
    )


def _describe(chart: Chart) -> str:
    pieces = []
    for series in chart.series:
        if series.points:
            last_day, last_value = series.points[-1]
            pieces.append(
                f"{series.name}: {len(series.points)} results, latest {last_value:.3g} "
                f"{chart.unit} on {last_day.isoformat()}"
            )
        else:
            pieces.append(f"{series.name}: no results")
    lines = "; ".join(f"reference line {line.label}" for line in chart.lines)
    return ". ".join(pieces) + (". " + lines if lines else "")
