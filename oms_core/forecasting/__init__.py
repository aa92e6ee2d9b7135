"""Demand forecasting maths: periods, demand series, back-test scores, the fallback and
replenishment arithmetic. Pure: no database, no Flask; reading the order history and
storing runs are services (`oms_core.services.demand_history`, `forecast_runs`)."""
