"""The demand chart of a product's forecast page: inline SVG drawn on the server.

No JavaScript library and nothing from a CDN: the chart is a pure function of
dates and numbers, so it renders wherever the page does (and in a test). It shows
the sales per period, the forecast line with its interval as a shaded band, a
"now" divider where the history ends, round y ticks and month labels. Every text
in it is escaped; colours are presentation attributes, so it needs no stylesheet.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Sequence

from markupsafe import Markup, escape

from oms_core.services.forecasts import month_starts as months_within

WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 36, 30  # room for y labels, -, the legend, x labels
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MAX_MONTH_LABELS = 10
COLOURS = {"history": "#1f6feb", "forecast": "#b54708", "band": "#fdb022", "grid": "#d9dee5",
           "text": "#5b6472", "now": "#1d2430"}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class ChartData:
    history_starts: Sequence[date]
    history: Sequence[float]
    forecast_starts: Sequence[date]
    point: Sequence[float]
    lower: Sequence[float]
    upper: Sequence[float]
    now: date | None = None  # where the history ends and the forecast begins
    frequency: str = "week"
    level: float = 0.8
    label: str = ""  # what the chart is of (a product's name), for its title

    def __post_init__(self):
        if len(self.history_starts) != len(self.history):
            raise ValueError("history needs one start date per value")
        if not len(self.forecast_starts) == len(self.point) == len(self.lower) == len(self.upper):
            raise ValueError("the forecast needs one start date, point and interval per step")

    @property
    def is_empty(self) -> bool:
        return not self.history and not self.point


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """Round tick values from 0 to at least `top`, steps of 1, 2 or 5 x 10^n."""
    top = top if top > 0 and math.isfinite(top) else 1.0
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [round(i * step, 10) for i in range(math.ceil(top / step - 1e-9) + 1)]


def month_starts(first: date, last: date, most: int = MAX_MONTH_LABELS) -> list[date]:
    """First days of months within [first, last], thinned to at most `most`, on round months."""
    months = months_within(first, last)
    step = max(1, math.ceil(len(months) / most))
    # Steps of 2, 3, 4 or 6 months land on January when they can; others on any month.
    step = next((s for s in (1, 2, 3, 4, 6, 12) if s >= step), step)
    return [m for m in months if (m.year * 12 + m.month - 1) % step == 0]


def number(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"


def period_name(start: date, frequency: str) -> str:
    if frequency == "month":
        return f"{MONTHS[start.month - 1]} {start.year}"
    return f"Week of {start.day} {MONTHS[start.month - 1]} {start.year}"


class _Scale:
    """Dates to x and units to y, within the plot area."""

    def __init__(self, data: ChartData):
        dates = list(data.history_starts) + list(data.forecast_starts) + ([data.now] if data.now else [])
        self.has_dates = bool(dates)
        self.first = min(dates) if dates else date(2000, 1, 3)  # any Monday: nothing is drawn
        last = max(dates) if dates else self.first
        self.days = max((last - self.first).days, 7)
        self.ticks = nice_ticks(max(list(data.history) + list(data.upper) + [0.0]))
        self.top = self.ticks[-1]

    def x(self, day: date) -> float:
        return round(LEFT + (day - self.first).days / self.days * PLOT_WIDTH, 1)

    def y(self, value: float) -> float:
        return round(TOP + PLOT_HEIGHT - value / self.top * PLOT_HEIGHT, 1)


def _points(pairs) -> str:
    return " ".join(f"{x},{y}" for x, y in pairs)


def _text(x, y, content: str, *, anchor: str = "middle", extra: str = "") -> str:
    return (f'<text x="{x}" y="{y}" text-anchor="{anchor}" font-size="11" fill="{COLOURS["text"]}"'
            f'{extra}>{escape(content)}</text>')


def _y_axis(scale: _Scale) -> list[str]:
    parts = ['<g class="chart-y-axis">']
    for tick in scale.ticks:
        y = scale.y(tick)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" stroke="{COLOURS["grid"]}"/>')
        parts.append(_text(LEFT - 6, y + 4, number(tick), anchor="end"))
    parts.append("</g>")
    return parts


def _x_axis(scale: _Scale) -> list[str]:
    if not scale.has_dates:
        return []
    last = scale.first + timedelta(days=scale.days)
    parts = ['<g class="chart-x-axis">']
    bottom = TOP + PLOT_HEIGHT
    for index, month in enumerate(month_starts(scale.first, last)):
        x = scale.x(month)
        label = MONTHS[month.month - 1] + (f" {month.year}" if month.month == 1 or index == 0 else "")
        parts.append(f'<line x1="{x}" x2="{x}" y1="{bottom}" y2="{bottom + 4}" stroke="{COLOURS["text"]}"/>')
        parts.append(_text(x, bottom + 16, label))
    parts.append("</g>")
    return parts


def _band(data: ChartData, scale: _Scale) -> list[str]:
    if not data.point:
        return []
    upper = [(scale.x(d), scale.y(v)) for d, v in zip(data.forecast_starts, data.upper)]
    lower = [(scale.x(d), scale.y(v)) for d, v in zip(data.forecast_starts, data.lower)]
    return [f'<polygon class="chart-band" points="{_points(upper + lower[::-1])}" fill="{COLOURS["band"]}" '
            f'fill-opacity="0.3" stroke="none"><title>{int(data.level * 100)}% interval</title></polygon>']


def _line(kind: str, starts, values, scale: _Scale, dashed: bool = False) -> list[str]:
    if not values:
        return []
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    points = _points((scale.x(d), scale.y(v)) for d, v in zip(starts, values))
    return [f'<polyline class="chart-{kind}" points="{points}" fill="none" stroke="{COLOURS[kind]}" '
            f'stroke-width="2" stroke-linejoin="round"{dash}/>']


def _dot(kind: str, day: date, value: float, tooltip: str, scale: _Scale) -> str:
    return (f'<circle class="chart-point-{kind}" cx="{scale.x(day)}" cy="{scale.y(value)}" r="2.5" '
            f'fill="{COLOURS[kind]}"><title>{escape(tooltip)}</title></circle>')


def _dots(data: ChartData, scale: _Scale) -> list[str]:
    """One dot per period with its figures as a tooltip."""
    parts = ['<g class="chart-points">']
    for day, value in zip(data.history_starts, data.history):
        tooltip = f"{period_name(day, data.frequency)}: {number(value)} sold"
        parts.append(_dot("history", day, value, tooltip, scale))
    for day, value, low, high in zip(data.forecast_starts, data.point, data.lower, data.upper):
        tooltip = (f"{period_name(day, data.frequency)}: forecast {number(value)} "
                   f"({number(low)}–{number(high)})")
        parts.append(_dot("forecast", day, value, tooltip, scale))
    parts.append("</g>")
    return parts


def _now(data: ChartData, scale: _Scale) -> list[str]:
    if data.now is None:
        return []
    x = scale.x(data.now)
    return ['<g class="chart-now">',
            f'<line x1="{x}" x2="{x}" y1="{TOP - 4}" y2="{TOP + PLOT_HEIGHT}" stroke="{COLOURS["now"]}" '
            f'stroke-dasharray="2 3"/>', _text(x + 4, TOP + 8, "now", anchor="start"), "</g>"]


def _legend(data: ChartData) -> list[str]:
    per = "month" if data.frequency == "month" else "week"
    entries = [("history", f"Sold per {per}", "line"), ("forecast", "Forecast", "dash"),
               ("band", f"{int(data.level * 100)}% interval", "box")]
    parts, x = ['<g class="chart-legend">'], LEFT
    for kind, label, mark in entries:
        if mark == "box":
            parts.append(f'<rect x="{x}" y="8" width="18" height="10" fill="{COLOURS[kind]}" '
                         'fill-opacity="0.3"/>')
        else:
            dash = ' stroke-dasharray="6 4"' if mark == "dash" else ""
            parts.append(f'<line x1="{x}" x2="{x + 18}" y1="13" y2="13" stroke="{COLOURS[kind]}" '
                         f'stroke-width="2"{dash}/>')
        parts.append(_text(x + 24, 17, label, anchor="start"))
        x += 36 + 7 * len(label)
    parts.append("</g>")
    return parts


def describe(data: ChartData) -> str:
    """The chart in one or two sentences, for screen readers."""
    if data.is_empty:
        return "No sales and no forecast yet."
    per = "months" if data.frequency == "month" else "weeks"
    parts = []
    if data.history:
        parts.append(f"{number(sum(data.history))} sold in the last {len(data.history)} {per}")
    if data.point:
        parts.append(f"{number(sum(data.point))} forecast for the next {len(data.point)} {per}, "
                     f"with {int(data.level * 100)}% intervals")
    return "; ".join(parts) + "."


def demand_chart(data: ChartData, *, element_id: str = "demand-chart") -> Markup:
    scale = _Scale(data)
    title = f"Sales and forecast: {data.label}" if data.label else "Sales and forecast"
    description = describe(data)
    ids = f"{element_id}-title {element_id}-desc"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(element_id)}" class="chart" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{escape(ids)}" '
             f'aria-label="{escape(title + ". " + description)}">',
             f'<title id="{escape(element_id)}-title">{escape(title)}</title>',
             f'<desc id="{escape(element_id)}-desc">{escape(description)}</desc>']
    parts += _y_axis(scale) + _x_axis(scale)
    if data.is_empty:
        parts.append(_text(LEFT + PLOT_WIDTH / 2, TOP + PLOT_HEIGHT / 2, "No sales yet"))
    parts += _band(data, scale)
    parts += _line("history", data.history_starts, data.history, scale)
    parts += _line("forecast", data.forecast_starts, data.point, scale, dashed=True)
    parts += _now(data, scale) + _dots(data, scale) + _legend(data)
    parts.append("</svg>")
    return Markup("\n".join(parts))
