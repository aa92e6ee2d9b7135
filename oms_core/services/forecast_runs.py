"""Forecast and back-test runs: read the history, pick a forecaster, store the result.

The maths (back-test scores, the fallback, periods) is `oms_core.forecasting`;
this module reads, chooses and stores.

The heavy work (reading the history, fitting models) happens outside any write
transaction; only the result is written, in one short transaction, so the shop
keeps taking orders while a forecast runs.

Which forecaster: the one named on the command line, else the config's
FORECASTER, else ("auto") the best of all installed ones in a back-test on this
shop's own history, which is stored too, so its figures can be shown.
"""
from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Hashable, Mapping, Protocol

from sqlalchemy import delete, insert, select

from .. import runtime
from ..db import db, write_transaction
from ..errors import NotFound, ValidationError
from ..forecasting import backtest as backtesting
from ..forecasting import fallback, periods
from ..forecasting.demand import DemandHistory
from ..models import ForecastRun, ForecastSeries
from ..models._base import utcnow
from ..plugins import FORECASTER
from ..protocols import Forecaster, SeriesForecast
from . import demand_history

AUTO = "auto"
BASELINE = "seasonal_naive"
DEFAULT_HORIZON = {"week": 26, "month": 12}
_INSERT_CHUNK = 500


class Progress(Protocol):
    """Told what a run is doing, for a progress bar."""

    def stage(self, label: str, total: int) -> None: ...
    def advance(self, steps: int = 1) -> None: ...


class _Quiet:
    def stage(self, label: str, total: int) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass


def settings() -> dict:
    frequency = periods.check_frequency(runtime.setting("FORECAST_FREQUENCY"))
    level = float(runtime.setting("FORECAST_LEVEL"))
    fallback.z_score(level)  # refuses a level outside (0, 1)
    return {
        "frequency": frequency,
        "season_length": periods.SEASON_LENGTH[frequency],
        "horizon": int(runtime.setting("FORECAST_HORIZON") or DEFAULT_HORIZON[frequency]),
        "level": level,
        "min_history": max(1, int(runtime.setting("FORECAST_MIN_HISTORY"))),
    }


def _checked(forecaster: Forecaster, answers: Mapping, keys, horizon: int) -> dict[Hashable, SeriesForecast]:
    """A plugin's answer, refused with its name if incomplete; demand is never below zero."""
    clean = {}
    for key in keys:
        answer = answers.get(key)
        if answer is None or not len(answer.point) == len(answer.lower) == len(answer.upper) == horizon:
            raise ValidationError(f"Forecaster '{forecaster.id}' gave no {horizon}-step answer for a series.")
        values = [answer.point, answer.lower, answer.upper]
        if not all(math.isfinite(v) for row in values for v in row):
            raise ValidationError(f"Forecaster '{forecaster.id}' answered with a non-finite number.")
        point = [max(0.0, float(v)) for v in answer.point]
        clean[key] = SeriesForecast(
            point=point,
            lower=[min(max(0.0, float(lo)), p) for lo, p in zip(answer.lower, point)],
            upper=[max(float(hi), p) for hi, p in zip(answer.upper, point)])
    return clean


def _store(run: ForecastRun, rows: list[dict], progress: Progress) -> ForecastRun:
    keep = max(1, int(runtime.setting("FORECAST_KEEP_RUNS")))
    progress.stage("Saving", len(rows))
    with write_transaction(keep_loaded=True):
        db.session.add(run)
        db.session.flush()
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[start:start + _INSERT_CHUNK]
            db.session.execute(insert(ForecastSeries), [dict(row, run_id=run.id) for row in chunk])
            progress.advance(len(chunk))
        old = select(ForecastRun.id).where(ForecastRun.kind == run.kind).order_by(
            ForecastRun.id.desc()).offset(keep)
        old_ids = list(db.session.scalars(old))
        if old_ids:
            db.session.execute(delete(ForecastSeries).where(ForecastSeries.run_id.in_(old_ids)))
            db.session.execute(delete(ForecastRun).where(ForecastRun.id.in_(old_ids)))
    return run


def _new_run(kind: str, conf: dict, history: DemandHistory, started: float, **fields) -> ForecastRun:
    return ForecastRun(kind=kind, frequency=conf["frequency"], season_length=conf["season_length"],
                       level=conf["level"], first_period=history.next_period,
                       seconds=round(time.perf_counter() - started, 3), finished_at=utcnow(), **fields)


def _read_history(conf: dict, now: datetime | None, progress: Progress) -> DemandHistory:
    progress.stage("Reading the order history", 1)
    history = demand_history.read(conf["frequency"], as_of=now)
    progress.advance()
    return history


def _score_dict(scores) -> dict:
    return {"mase": scores.mase, "wape": scores.wape, "bias": scores.bias, "coverage": scores.coverage}


def run_backtest(*, now: datetime | None = None, progress: Progress | None = None,
                 history: DemandHistory | None = None) -> ForecastRun:
    """Hold out the last season, score every installed forecaster on it, store the figures."""
    progress = progress or _Quiet()
    conf, started = settings(), time.perf_counter()
    history = history or _read_history(conf, now, progress)
    forecasters = sorted(runtime.registry().usable(FORECASTER), key=lambda f: f.id != BASELINE)
    progress.stage("Back-testing " + ", ".join(f.id for f in forecasters), len(forecasters))
    result = backtesting.run(history.series, forecasters, season_length=conf["season_length"],
                             holdout=conf["season_length"], level=conf["level"],
                             min_history=conf["min_history"], check=_checked,
                             on_forecaster=lambda _: progress.advance())
    summary = {"holdout": result.holdout, "skipped": result.skipped, "failed": result.failed,
               "scores": {fid: dict(_score_dict(s), series=s.series) for fid, s in result.overall.items()}}
    rows = [{"product_id": product_id, "method": "backtest", "point": [], "lower": [], "upper": [],
             "history_periods": len(history.series[product_id]) - result.holdout,
             "scores": {fid: dict(_score_dict(score)) for fid, score in by_forecaster.items()}}
            for product_id, by_forecaster in result.per_series.items()]
    best = result.best
    run = _new_run("backtest", conf, history, started, horizon=result.holdout,
                   forecaster_id=best or BASELINE, series_count=len(rows), summary=summary,
                   chosen_by="lowest mean MASE with honest intervals" if best else
                   "no product has enough history to back-test")
    return _store(run, rows, progress)


def choose_forecaster(forecaster_id: str | None, *, now, progress, history) -> tuple[Forecaster, str]:
    """The forecaster to use and why; `forecaster_id` (e.g. from the command line) wins."""
    registry = runtime.registry()
    wanted = forecaster_id or runtime.setting("FORECASTER")
    if wanted != AUTO:
        try:
            reason = "chosen by hand" if forecaster_id else "named in the config"
            return registry.forecaster(wanted), reason
        except NotFound as exc:
            raise ValidationError(f"{exc} Installed: {', '.join(sorted(registry.forecasters))}.") from None
    tested = run_backtest(now=now, progress=progress, history=history)
    if tested.summary.get("scores"):
        return registry.forecaster(tested.forecaster_id), f"auto: best in back-test #{tested.id}"
    fallback_id = BASELINE if BASELINE in registry.forecasters else sorted(registry.forecasters)[0]
    return registry.forecaster(fallback_id), "auto: too little history to back-test, so the baseline"


def run_forecast(*, forecaster_id: str | None = None, now: datetime | None = None,
                 progress: Progress | None = None) -> ForecastRun:
    """Forecast every active product with sales and store the run."""
    progress = progress or _Quiet()
    conf, started = settings(), time.perf_counter()
    history = _read_history(conf, now, progress)
    forecaster, chosen_by = choose_forecaster(forecaster_id, now=now, progress=progress, history=history)
    modelled = {pid: values for pid, values in history.series.items() if len(values) >= conf["min_history"]}
    progress.stage(f"Forecasting {len(modelled)} products with {forecaster.id}", 1)
    answers = {}
    if modelled:
        raw = forecaster.forecast(modelled, horizon=conf["horizon"], season_length=conf["season_length"],
                                  level=conf["level"])
        answers = _checked(forecaster, raw, modelled, conf["horizon"])
    progress.advance()
    rows = []
    for product_id, values in history.series.items():
        method = forecaster.id if product_id in answers else fallback.METHOD
        answer = answers.get(product_id) or fallback.mean_forecast(values, conf["horizon"], conf["level"])
        rows.append({"product_id": product_id, "method": method, "history_periods": len(values),
                     "point": list(answer.point), "lower": list(answer.lower), "upper": list(answer.upper),
                     "scores": {}})
    summary = {"modelled": len(modelled), "fallback": len(rows) - len(modelled)}
    run = _new_run("forecast", conf, history, started, horizon=conf["horizon"], forecaster_id=forecaster.id,
                   chosen_by=chosen_by, series_count=len(rows), summary=summary)
    return _store(run, rows, progress)


def forecaster_label(method: str) -> str:
    """What staff read for a series' method or a run's forecaster id."""
    if method == fallback.METHOD:
        return fallback.LABEL
    forecaster = runtime.registry().forecasters.get(method)
    return forecaster.label if forecaster else f"{method} (no longer installed)"


def latest(kind: str = "forecast") -> ForecastRun | None:
    return db.session.scalars(select(ForecastRun).where(ForecastRun.kind == kind)
                              .order_by(ForecastRun.id.desc()).limit(1)).first()
