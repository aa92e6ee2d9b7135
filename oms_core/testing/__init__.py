"""Test kit for the OMS and its plugin authors.

- `make_app(database_url, **config)`: a Flask app with the OMS mounted, schema upgraded.
- `contracts`: checks every payment gateway / carrier / forecaster must pass; run them
  against your own plugin (`check_payment_gateway(MyGateway())`).
- The pytest plugin (`oms_core.testing.pytest_plugin`, loaded automatically when the
  `oms` distribution is installed) gives the fixtures `oms_app`, `oms_client`,
  `oms_runner` and `oms_product`.
"""
from __future__ import annotations

from flask import Flask

from .. import schema
from ..db import db


def make_app(database_url: str, *, extra_plugins=(), upgrade: bool = True, **config) -> Flask:
    from oms_web import OMS

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


def dispose(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
