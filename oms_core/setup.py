"""Wire the core into a Flask app: config defaults, database, plugins, CLI.

The web extension (`oms_web.OMS`) calls `init_core` first; a worker-only process
can call it alone.
"""
from __future__ import annotations

from flask import Flask

from . import tracking_cache
from .config import apply_defaults
from .constants import CONFIG_PREFIX, EXTENSION_KEY
from .db import configure_engine, db
from .plugin_settings import PluginSettings
from .plugins import load_plugins
from .runtime import OMSState


def init_core(app: Flask, *, extra_plugins=()) -> OMSState:
    apply_defaults(app.config)
    existing = app.extensions.get("sqlalchemy")
    if existing is None:
        db.init_app(app)
    elif existing is not db:
        raise RuntimeError(
            "This app already has its own flask_sqlalchemy.SQLAlchemy instance. Use the OMS's "
            "instance for your models too: `from oms_core.db import db`."
        )
    with app.app_context():
        configure_engine(db.engine)
    registry = load_plugins(disabled=app.config[CONFIG_PREFIX + "DISABLED_PLUGINS"],
                            extra_plugins=extra_plugins,
                            settings=PluginSettings(app.config[CONFIG_PREFIX + "PLUGINS"]))
    state = OMSState(registry=registry, tracking_cache=tracking_cache.init_app(app))
    app.extensions[EXTENSION_KEY] = state

    from . import cli, shop
    from .services import carrier_ops, notifications, shipments, staff  # noqa: F401  (outbox handlers)
    from .services import complaint_emails, complaints  # noqa: F401  (outbox handler; settings check)

    with app.app_context():
        shop.check_settings()
        complaints.check_settings()

    app.cli.add_command(cli.build_cli(registry))
    return state
