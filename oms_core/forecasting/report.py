"""Plain-text summaries of forecast and back-test runs, for the CLI."""
from __future__ import annotations

from typing import Callable

from ..models import ForecastRun


def percent(value) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def number(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def echo_forecast(run: ForecastRun, echo: Callable[[str], None]) -> None:
    summary = run.summary
    echo(f"Forecast #{run.id}: {run.series_count} products, {run.horizon} {run.frequency}s ahead "
         f"from {run.first_period.isoformat()}, {int(run.level * 100)}% intervals.")
    echo(f"  {summary.get('modelled', 0)} with {run.forecaster_id} ({run.chosen_by}), "
         f"{summary.get('fallback', 0)} with too little history: their average.")
    echo(f"  Took {run.seconds:.1f} s.")


def echo_backtest(run: ForecastRun, echo: Callable[[str], None]) -> None:
    summary = run.summary
    scores = summary.get("scores", {})
    echo(f"Back-test #{run.id}: the last {summary.get('holdout')} {run.frequency}s held out; "
         f"{run.series_count} products scored, {summary.get('skipped', 0)} with too little history.")
    if not scores:
        echo("  Nothing to score yet.")
        return
    echo(f"  {'forecaster':<24}{'MASE':>8}{'WAPE':>9}{'bias':>9}{'coverage':>10}")
    for forecaster_id, s in scores.items():
        mark = "  <- best" if forecaster_id == run.forecaster_id else ""
        echo(f"  {forecaster_id:<24}{number(s['mase']):>8}{percent(s['wape']):>9}{percent(s['bias']):>9}"
             f"{percent(s['coverage']):>10}{mark}")
    for forecaster_id, reason in summary.get("failed", {}).items():
        echo(f"  {forecaster_id}: failed, left out: {reason}")
    echo(f"  Coverage is of the {int(run.level * 100)}% intervals. Took {run.seconds:.1f} s.")
