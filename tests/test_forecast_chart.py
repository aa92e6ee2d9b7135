"""The server-drawn demand chart: well-formed, accessible SVG whose geometry matches
the numbers (scaling, the band around the forecast), with empty and all-zero
series drawn without errors and every text escaped."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from oms_web.forecast_chart import (HEIGHT, LEFT, PLOT_HEIGHT, PLOT_WIDTH, TOP, ChartData, demand_chart,
                                    month_starts, nice_ticks)

SVG = "{http://www.w3.org/2000/svg}"
MONDAY = date(2026, 1, 5)


def weeks(first: date, count: int) -> list[date]:
    return [first + timedelta(weeks=n) for n in range(count)]


def chart(history, point=(), spread=1.0, **kw) -> ChartData:
    history_starts = weeks(MONDAY, len(history))
    forecast_first = MONDAY + timedelta(weeks=len(history))
    return ChartData(history_starts=history_starts, history=list(history),
                     forecast_starts=weeks(forecast_first, len(point)), point=list(point),
                     lower=[max(0.0, p - spread) for p in point], upper=[p + spread for p in point],
                     now=forecast_first, **kw)


def parse(data: ChartData) -> ET.Element:
    return ET.fromstring(str(demand_chart(data)))


def coordinates(element: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, pair.split(","))) for pair in element.get("points").split()]


def by_class(svg: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in svg.iter() if e.get("class") == name]


@pytest.mark.parametrize("top, expected", [
    (10, [0, 5, 10]), (7, [0, 2, 4, 6, 8]), (0.3, [0, 0.1, 0.2, 0.3]), (0, [0, 0.5, 1]),
    (123, [0, 50, 100, 150]), (1000, [0, 500, 1000]),
])
def test_ticks_are_round_and_reach_the_top(top, expected):
    assert nice_ticks(top) == expected


def test_month_labels_are_thinned_to_round_months():
    assert month_starts(date(2026, 1, 5), date(2026, 4, 20)) == [date(2026, 2, 1), date(2026, 3, 1),
                                                                 date(2026, 4, 1)]
    two_and_a_half_years = month_starts(date(2024, 6, 3), date(2026, 11, 30))
    assert len(two_and_a_half_years) <= 10
    assert all(m.month in (1, 4, 7, 10) for m in two_and_a_half_years)


def test_values_scale_to_the_plot_area():
    svg = parse(chart([0, 5, 10, 5], point=[4, 6], spread=2))
    history = coordinates(by_class(svg, "chart-history")[0])
    bottom = TOP + PLOT_HEIGHT
    assert history[0] == (LEFT, bottom)  # first period at the left edge, zero at the bottom
    assert history[2][1] == TOP  # 10 is the top tick (0, 5, 10), drawn at the top
    assert history[1][1] == pytest.approx(TOP + PLOT_HEIGHT / 2, abs=0.1)
    forecast = coordinates(by_class(svg, "chart-forecast")[0])
    assert forecast[-1][0] == pytest.approx(LEFT + PLOT_WIDTH)  # the last forecast period at the right edge
    xs = [x for x, _ in history + forecast]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)  # weeks left to right, evenly by date
    now = by_class(svg, "chart-now")[0].find(f"{SVG}line")
    assert float(now.get("x1")) == forecast[0][0]


def test_band_contains_the_forecast_line():
    point = [3, 8, 2, 5.5]
    svg = parse(chart([1, 2, 3], point=point, spread=1.5))
    band = coordinates(by_class(svg, "chart-band")[0])
    upper, lower = band[:len(point)], band[len(point):][::-1]
    line = coordinates(by_class(svg, "chart-forecast")[0])
    for (x, y), (ux, uy), (lx, ly) in zip(line, upper, lower):
        assert x == ux == lx
        assert uy < y < ly  # SVG y grows downwards: the upper bound is above the point


def test_every_period_has_a_tooltip():
    svg = parse(chart([4, 0, 7], point=[5, 5]))
    tips = [c.find(f"{SVG}title").text for c in svg.iter(f"{SVG}circle")]
    assert tips[:3] == ["Week of 5 Jan 2026: 4 sold", "Week of 12 Jan 2026: 0 sold",
                        "Week of 19 Jan 2026: 7 sold"]
    assert tips[3] == "Week of 26 Jan 2026: forecast 5 (4–6)"


def test_accessible_title_and_description():
    svg = parse(chart([2, 3], point=[1], label="Mug"))
    assert svg.get("role") == "img"
    assert "Mug" in svg.get("aria-label")
    title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
    assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert title.text == "Sales and forecast: Mug"
    assert desc.text == "5 sold in the last 2 weeks; 1 forecast for the next 1 weeks, with 80% intervals."


def test_empty_history_draws_axes_and_says_so():
    svg = parse(ChartData(history_starts=[], history=[], forecast_starts=[], point=[], lower=[], upper=[]))
    assert not by_class(svg, "chart-history") and not by_class(svg, "chart-band")
    assert "No sales yet" in ET.tostring(svg, encoding="unicode")
    assert float(svg.get("viewBox").split()[3]) == HEIGHT


def test_all_zero_series_stay_on_the_baseline():
    svg = parse(chart([0, 0, 0], point=[0, 0], spread=0))
    for kind in ("chart-history", "chart-forecast"):
        assert {y for _, y in coordinates(by_class(svg, kind)[0])} == {TOP + PLOT_HEIGHT}
    labels = [t.text for t in by_class(svg, "chart-y-axis")[0].iter(f"{SVG}text")]
    assert labels == ["0", "0.5", "1"]  # a visible scale, no division by zero


def test_text_is_escaped():
    markup = str(demand_chart(chart([1], point=[1], label='<script>alert("x")</script> & co')))
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    ET.fromstring(markup)  # still well-formed


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError):
        ChartData(history_starts=[MONDAY], history=[], forecast_starts=[], point=[], lower=[], upper=[])
