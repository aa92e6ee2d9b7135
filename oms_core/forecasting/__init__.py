"""Demand forecasting in the core: demand series, back-test scores, and the runs that use them."""
