"""Stored forecasts: one run per `flask oms forecast`, one row per product in it.

A run records which forecaster made it and when, so staff can tell how fresh the
numbers are and which model they come from. Per product the horizon's point
forecast and interval are kept as JSON lists: a small shop has at most a few
thousand products and the page reads one product's run at a time.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy import JSON, Date, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import db
from ._base import UTCDateTime, created_at_column


class ForecastRun(db.Model):
    __tablename__ = "oms_forecast_run"
    __table_args__ = (Index("ix_oms_forecast_run_kind_id", "kind", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # "forecast" or "backtest"
    # The forecaster whose figures the run holds (for a back-test: the best one).
    forecaster_id: Mapped[str] = mapped_column(String(64), nullable=False)
    # How it was chosen: "config", "auto: back-test", or the reason for a fallback.
    chosen_by: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    frequency: Mapped[str] = mapped_column(String(10), nullable=False)
    season_length: Mapped[int] = mapped_column(Integer, nullable=False)
    horizon: Mapped[int] = mapped_column(Integer, nullable=False)
    level: Mapped[float] = mapped_column(Float, nullable=False)
    # First day of the first forecast period (the history ends the period before).
    first_period: Mapped[date] = mapped_column(Date, nullable=False)
    series_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    seconds: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    # Back-test: overall scores per forecaster id {"sklearn_global": {"mase": ..}, ...}.
    summary: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    finished_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())

    series: Mapped[list["ForecastSeries"]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True)


class ForecastSeries(db.Model):
    """One product's forecast (or back-test scores) within a run."""

    __tablename__ = "oms_forecast_series"
    __table_args__ = (
        UniqueConstraint("run_id", "product_id", name="uq_oms_forecast_series_run_product"),
        Index("ix_oms_forecast_series_product_id_run_id", "product_id", "run_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("oms_forecast_run.id", ondelete="CASCADE"),
                                        nullable=False)
    product_id: Mapped[int] = mapped_column(ForeignKey("oms_product.id"), nullable=False)
    # Forecaster id that made this series' numbers, or "fallback_mean" for short histories.
    method: Mapped[str] = mapped_column(String(64), nullable=False)
    history_periods: Mapped[int] = mapped_column(Integer, nullable=False)
    point: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    lower: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    upper: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    # Back-test only: per forecaster id {"mase", "wape", "bias", "coverage"}.
    scores: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)

    run: Mapped[ForecastRun] = relationship(back_populates="series")
