"""pytest fixtures for plugin authors (loaded through the `pytest11` entry point).

`oms_app` is an OMS app on a fresh SQLite file with the schema upgraded and every
installed plugin loaded, configured by the `oms_config` fixture: override it in
your test module, class or conftest.py to give the app its config, your plugin's
settings above all:

    @pytest.fixture
    def oms_config():
        return {"OMS_PLUGINS": {"my_carrier": {"api_key": "test", "webhook_secret": "s3cret"}}}

The key `extra_plugins` registers plugin objects that are not installed.

Set OMS_TEST_DATABASE_URL to run it on another database (e.g. PostgreSQL): a
database for tests only, since its OMS tables are emptied before each test. Fixture
names carry the `oms_` prefix so they never shadow a project's own `app` or `client`.
"""
from __future__ import annotations

import os

import pytest


@pytest.fixture
def oms_config() -> dict:
    """The config of `oms_app` (none beyond the kit's own): override it."""
    return {}


@pytest.fixture
def oms_app(tmp_path, oms_config):
    from . import dispose, make_app

    shared_url = os.environ.get("OMS_TEST_DATABASE_URL")
    app = make_app(shared_url or f"sqlite:///{tmp_path / 'oms.sqlite3'}", **oms_config)
    with app.app_context():
        if shared_url:
            _empty_tables()  # what an earlier test left behind
        yield app
    dispose(app)


def _empty_tables() -> None:
    from .. import models  # noqa: F401  (every OMS table on the metadata)
    from ..db import db

    with db.engine.begin() as connection:
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def oms_client(oms_app):
    return oms_app.test_client()


@pytest.fixture
def oms_runner(oms_app):
    return oms_app.test_cli_runner()


@pytest.fixture
def oms_product(oms_app):
    """A product with 10 units on hand at 12.50 EUR (SKU TEST-1)."""
    from .helpers import stocked_product

    return stocked_product()
