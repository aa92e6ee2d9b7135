"""The demo shop's app factory.

    create_app()                          # $OMS_DEMO_DATABASE_URL or ./demo-data/demo.sqlite3
    gunicorn 'oms_demo.app:create_app()'
    flask --app oms_demo.app oms demo-data

It mounts the OMS with `OMS(app)` like any host shop and adds its own pages.
"""
from __future__ import annotations

from flask import Flask

from oms_core.money import format_amount
from oms_web import OMS

from . import cli, settings, shop


def create_app(database_url: str | None = None, *, data_dir=None, **config) -> Flask:
    folder = settings.data_dir(data_dir)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key(folder),
        SQLALCHEMY_DATABASE_URI=settings.database_url(database_url, folder),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        OMS_SHOP_NAME="Kettle & Crumb",
        OMS_MAIL_SENDER="orders@demo.shop",
        DEMO_DATA_DIR=str(folder),
    )
    app.config.update(settings.oms_config_from_environment())
    app.config.update(config)
    OMS(app, extra_plugins=[cli])
    app.register_blueprint(shop.blueprint)
    app.jinja_env.filters["money"] = format_amount

    @app.route("/hello")
    def hello():  # the benchmarks' baseline
        return "hello"

    @app.route("/favicon.ico")
    def favicon():  # no icon, and no 404 in the browser console
        return "", 204

    return app
