"""pytest fixtures for plugin authors (loaded through the `pytest11` entry point).

`oms_app` is an OMS app on a fresh SQLite file with the schema upgraded and every
installed plugin loaded; set OMS_TEST_DATABASE_URL to run it on another database
(it must be empty). Fixture names carry the `oms_` prefix so they never shadow a
project's own `app` or `client`.
"""
from __future__ import annotations

import os

import pytest


@pytest.fixture
def oms_app(tmp_path):
    from . import dispose, make_app

    url = os.environ.get("OMS_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'oms.sqlite3'}"
    app = make_app(url)
    with app.app_context():
        yield app
    dispose(app)


@pytest.fixture
def oms_client(oms_app):
    return oms_app.test_client()


@pytest.fixture
def oms_runner(oms_app):
    return oms_app.test_cli_runner()


@pytest.fixture
def oms_product(oms_app):
    """A product with 10 units on hand at 12.50 EUR."""
    from ..services import stock

    return stock.create_product(sku="TEST-1", name="Test product", price_minor=1250,
                                currency="EUR", on_hand=10, actor="test")
