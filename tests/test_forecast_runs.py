"""Forecast and back-test runs: choosing the forecaster, storing the result, the
fallback for short histories, refusing a plugin's bad answer, the schedule and the CLI."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from oms_core.db import db
from oms_core.errors import ValidationError
from oms_core.services import forecast_runs
from oms_core.services.forecast_schedule import forecast_schedule, is_due
from oms_core.models import ForecastRun, ForecastSeries, Order
from oms_core.protocols import SeriesForecast
from oms_core.testing.fakes import plugin_registering

NOW = datetime(2026, 3, 18, 15, 0, tzinfo=timezone.utc)


class FlatMean:
    """Forecasts each series' mean: better than seasonal naive on pure noise."""

    id, label = "flat_mean", "Flat mean"

    def forecast(self, series, horizon, season_length, level=0.8):
        answer = {}
        for key, values in series.items():
            mean = sum(values) / len(values)
            answer[key] = SeriesForecast([mean] * horizon, [mean * 0.5] * horizon, [mean * 1.5] * horizon)
        return answer


class Broken:
    id, label = "broken", "Answers with the wrong length"

    def forecast(self, series, horizon, season_length, level=0.8):
        return {key: SeriesForecast([1.0], [0.0], [2.0]) for key in series}


@pytest.fixture
def app_config():
    # Monthly keeps the histories short; the scikit-learn plugin, if installed, is left out so
    # that the auto choice is between known forecasters.
    return {"OMS_FORECAST_FREQUENCY": "month", "OMS_DISABLED_PLUGINS": ["sklearn_global"],
            "extra_plugins": [plugin_registering(FlatMean(), Broken())]}


@pytest.fixture
def monthly_sales(app, make_product, place):
    """sales(product, [units per month...]) ending with the last complete month before NOW."""
    def factory(product, units):
        months = len(units)
        for n, quantity in enumerate(units):
            if not quantity:
                continue
            first_of_month = date(2026, 3, 1)
            year, month = divmod(first_of_month.year * 12 + first_of_month.month - 1 - (months - n), 12)
            order = place([(product.sku, quantity)], confirm=True)
            db.session.execute(update(Order).where(Order.id == order.id).values(
                created_at=datetime(year, month + 1, 10, 12, tzinfo=timezone.utc)))
        db.session.commit()
    return factory


@pytest.fixture
def noisy_shop(make_product, monthly_sales):
    rng = random.Random(3)
    products = [make_product(sku=f"NOISE-{n}", on_hand=10_000) for n in range(3)]
    for product in products:
        monthly_sales(product, [rng.randint(5, 15) for _ in range(30)])
    return products


def test_auto_picks_the_best_forecaster_in_a_backtest_and_stores_both_runs(noisy_shop):
    run = forecast_runs.run_forecast(now=NOW, forecaster_id=None)
    assert run.kind == "forecast" and run.forecaster_id == "flat_mean"
    tested = forecast_runs.latest("backtest")
    assert run.chosen_by == f"auto: best in back-test #{tested.id}"
    scores = tested.summary["scores"]
    assert set(scores) == {"seasonal_naive", "flat_mean"}
    assert "gave no 12-step answer" in tested.summary["failed"]["broken"]
    assert scores["flat_mean"]["mase"] < scores["seasonal_naive"]["mase"]
    assert run.first_period == date(2026, 3, 1) and run.horizon == 12 and run.frequency == "month"
    stored = db.session.scalars(select(ForecastSeries).where(ForecastSeries.run_id == run.id)).all()
    assert {s.product_id for s in stored} == {p.id for p in noisy_shop}
    assert all(len(s.point) == len(s.lower) == len(s.upper) == 12 for s in stored)
    assert all(s.method == "flat_mean" and s.history_periods == 30 for s in stored)


def test_a_forecaster_named_in_the_config_is_used_without_a_backtest(app, noisy_shop):
    app.config["OMS_FORECASTER"] = "seasonal_naive"
    run = forecast_runs.run_forecast(now=NOW)
    assert (run.forecaster_id, run.chosen_by) == ("seasonal_naive", "named in the config")
    assert forecast_runs.latest("backtest") is None


def test_an_unknown_forecaster_is_refused_and_nothing_is_stored(noisy_shop):
    with pytest.raises(ValidationError, match="No forecaster 'prophet'.*Installed: "):
        forecast_runs.run_forecast(now=NOW, forecaster_id="prophet")
    assert db.session.scalar(select(func.count()).select_from(ForecastRun)) == 0


def test_a_plugin_answer_of_the_wrong_length_is_refused_naming_it(noisy_shop):
    with pytest.raises(ValidationError, match="'broken'"):
        forecast_runs.run_forecast(now=NOW, forecaster_id="broken")
    assert forecast_runs.latest("forecast") is None


def test_products_with_little_history_get_the_average(make_product, monthly_sales, noisy_shop):
    newcomer = make_product(sku="NEW", on_hand=100)
    monthly_sales(newcomer, [4, 6, 5])
    run = forecast_runs.run_forecast(now=NOW, forecaster_id="seasonal_naive")
    series = db.session.scalars(select(ForecastSeries).where(
        ForecastSeries.run_id == run.id, ForecastSeries.product_id == newcomer.id)).one()
    assert series.method == "fallback_mean" and series.history_periods == 3
    assert series.point == [5.0] * 12
    assert all(lo < 5.0 < hi for lo, hi in zip(series.lower, series.upper))
    assert run.summary == {"modelled": 3, "fallback": 1}


def test_backtest_scores_each_product_per_forecaster(noisy_shop):
    run = forecast_runs.run_backtest(now=NOW)
    assert run.kind == "backtest" and run.horizon == 12
    assert run.summary["holdout"] == 12 and run.summary["skipped"] == 0
    rows = db.session.scalars(select(ForecastSeries).where(ForecastSeries.run_id == run.id)).all()
    assert len(rows) == 3
    for row in rows:
        assert set(row.scores) >= {"seasonal_naive", "flat_mean"}
        assert set(row.scores["flat_mean"]) == {"mase", "wape", "bias", "coverage"}


def test_old_runs_are_pruned(app, noisy_shop):
    app.config["OMS_FORECAST_KEEP_RUNS"] = 2
    made = [forecast_runs.run_forecast(now=NOW, forecaster_id="seasonal_naive").id for _ in range(3)]
    kept = db.session.scalars(select(ForecastRun.id).where(ForecastRun.kind == "forecast")).all()
    assert sorted(kept) == made[1:]
    assert db.session.scalar(select(func.count()).select_from(ForecastSeries).where(
        ForecastSeries.run_id == made[0])) == 0


def test_a_shop_without_sales_gets_an_empty_run(app):
    run = forecast_runs.run_forecast(now=NOW)
    assert run.series_count == 0
    assert run.chosen_by == "auto: too little history to back-test, so the baseline"


def test_due_when_never_run_or_older_than_the_setting(app, noisy_shop):
    app.config["OMS_FORECAST_EVERY_HOURS"] = 24
    assert is_due()
    run = forecast_runs.run_forecast(now=NOW, forecaster_id="seasonal_naive")
    assert not is_due(now=run.created_at + timedelta(hours=23))
    assert is_due(now=run.created_at + timedelta(hours=24))
    app.config["OMS_FORECAST_EVERY_HOURS"] = 0
    assert not is_due(now=run.created_at + timedelta(days=30))


def test_the_worker_schedule_runs_when_due_and_checks_at_most_once_a_minute(app, noisy_shop):
    app.config["OMS_FORECASTER"] = "seasonal_naive"
    clock = [1000.0]
    said = []
    schedule = forecast_schedule(echo=said.append, clock=lambda: clock[0])
    schedule()
    assert len(said) == 1 and said[0].startswith("forecast #")
    runs_made = db.session.scalar(select(func.count()).select_from(ForecastRun))
    app.config["OMS_FORECAST_EVERY_HOURS"] = 1e-9  # due again at once, but not checked again yet
    clock[0] += 30
    schedule()
    assert db.session.scalar(select(func.count()).select_from(ForecastRun)) == runs_made
    clock[0] += 31
    schedule()
    assert db.session.scalar(select(func.count()).select_from(ForecastRun)) == runs_made + 1


def test_a_failing_scheduled_forecast_is_logged_and_the_worker_goes_on(app, noisy_shop, caplog):
    app.config["OMS_FORECASTER"] = "broken"
    forecast_schedule(echo=lambda line: None)()
    assert "scheduled forecast failed" in caplog.text
    assert forecast_runs.latest("forecast") is None


def test_cli_forecast_shows_progress_and_a_summary(runner, noisy_shop):
    result = runner.invoke(args=["oms", "forecast", "--forecaster", "seasonal_naive"])
    assert result.exit_code == 0, result.output
    for stage in ("Reading the order history", "Forecasting 3 products with seasonal_naive", "Saving"):
        assert stage in result.output
    assert "3 with seasonal_naive (chosen by hand), 0 with too little history" in result.output


def test_cli_backtest_prints_the_table(runner, noisy_shop):
    result = runner.invoke(args=["oms", "forecast", "--backtest"])
    assert result.exit_code == 0, result.output
    assert "Back-testing seasonal_naive" in result.output
    assert "the last 12 months held out; 3 products scored" in result.output
    best_line = next(line for line in result.output.splitlines() if "<- best" in line)
    assert best_line.split()[0] == "flat_mean"


def test_cli_refuses_an_unknown_forecaster_clearly(runner, noisy_shop):
    result = runner.invoke(args=["oms", "forecast", "--forecaster", "nope"])
    assert result.exit_code == 1
    assert "No forecaster 'nope' is installed" in result.output
