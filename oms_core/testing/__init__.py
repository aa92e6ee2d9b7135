"""Test kit for the OMS and its plugin authors (docs/plugins.md, "Testing").

- `make_app(database_url, **config)`: a Flask app with the OMS mounted, schema upgraded.
- `run_worker_once(app)`: send the outbox messages that are due (carrier bookings,
  emails), as one round of `flask oms worker`.
- `post_signed_webhook(client, kind, plugin_id, body, sign=...)`: deliver a webhook
  as the gateway or carrier would, signed with the app's webhook secret for it.
- `place_test_order(...)`: a confirmed (optionally paid) order to ship or pay.
- `sign_hmac_sha256(body, secret)`: the headers of the common HMAC-SHA256 scheme
  (`oms_core.webhook_signing`).
- `scratch_postgres_database(server_url)`: a context manager yielding the URL of a
  new PostgreSQL database, dropped at the end (tests on PostgreSQL);
  `postgres_test_database(prefix)` the same for a fixture, on OMS_TEST_POSTGRES_URL's
  server, skipped without it (failed under OMS_CI_STRICT=1).
- `contracts`: checks every payment gateway / carrier / forecaster must pass; run them
  against your own plugin (`check_carrier(MyCarrier(), webhook_body=..., sign=...)`).
- The pytest plugin (`oms_core.testing.pytest_plugin`, loaded automatically when
  Flask-OMS is installed) gives the fixtures `oms_app` (configured by your
  `oms_config` fixture), `oms_client`, `oms_runner` and `oms_product`.

Importing this package loads neither the web layer nor the database: each helper
imports what it needs when called. It needs nothing beyond Flask-OMS and pytest
(SQLite is in Python).
"""
from __future__ import annotations

from ..webhook_signing import sign_hmac_sha256
from .helpers import (
    place_test_order, post_signed_webhook, postgres_test_database, run_worker_once, scratch_postgres_database,
)

__all__ = ["make_app", "dispose", "run_worker_once", "post_signed_webhook", "place_test_order",
           "sign_hmac_sha256", "scratch_postgres_database", "postgres_test_database"]


def make_app(database_url: str, *, extra_plugins=(), upgrade: bool = True, **config):
    """A Flask app with the OMS mounted on `database_url`; `config` overrides keys
    (OMS_PLUGINS for plugin settings...), `extra_plugins` registers plugin objects
    that are not installed."""
    from flask import Flask

    from oms_web import OMS

    from .. import schema

    app = Flask("oms_test_app")
    app.config.update(
        SECRET_KEY="test-secret-key",
        SQLALCHEMY_DATABASE_URI=database_url,
        TESTING=True,
        OMS_SMTP_HOST="127.0.0.1",
        OMS_SMTP_PORT=1,  # nothing listens: tests that send mail set their own server
    )
    app.config.update(config)
    OMS(app, extra_plugins=extra_plugins)

    @app.route("/hello")
    def hello():
        return "hello"

    if upgrade:
        with app.app_context():
            schema.upgrade()
    return app


def dispose(app) -> None:
    from ..db import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()
