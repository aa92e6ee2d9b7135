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
        # The seller on invoices, and Dutch VAT (food and books at the reduced rate
        # would need tax_class="reduced" on those products).
        OMS_SHOP={"legal_name": "Kettle & Crumb B.V.", "address_lines": ["Oudegracht 12", "3511 AB Utrecht"],
                  "country": "NL", "vat_number": "NL000099998B57", "registration_number": "KvK 00000000",
                  "bank_name": "Demo Bank", "iban": "NL02 ABNA 0123 4567 89", "bic": "ABNANL2A",
                  "footer": "Kettle & Crumb B.V. · a demo shop: not a real company", "locale": "en_GB",
                  "time_zone": "Europe/Amsterdam"},
        OMS_TAX_CLASSES={"standard": {"*": 2100}, "reduced": {"*": 900}},
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
