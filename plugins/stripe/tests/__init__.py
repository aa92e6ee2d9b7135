"""The Stripe plugin's tests (a package: see conftest.py)."""
