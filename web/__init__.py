"""The OMS as a Flask extension: `OMS(app)` or `oms = OMS(); oms.init_app(app)`.

It mounts the back-office, the public tracking page, the webhook endpoints and the
storefront helpers, each a blueprint under a configurable prefix (OMS_*_PREFIX).
"""
from __future__ import annotations

from flask import Flask
from flask_htmx import HTMX
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from oms_core.constants import CONFIG_PREFIX
from oms_core.setup import init_core

from . import admin, assets, public, public_documents, storefront, webhooks
from .hardening import default_session_cookie, install_security_headers
from .i18n import init_babel
from .input_guard import install_input_guard
from .ratelimit import init_limiter
from .schema_guard import install_schema_guard
from .uploads import install_upload_limit


class OMS:
    def __init__(self, app: Flask | None = None, *, extra_plugins=()):
        self.extra_plugins = tuple(extra_plugins)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        state = init_core(app, extra_plugins=self.extra_plugins)
        config = app.config
        default_session_cookie(config)
        HTMX(app)
        init_babel(app)
        csrf = app.extensions.get("csrf") or CSRFProtect(app)
        if getattr(app, "login_manager", None) is not None:
            # Its user loader would replace the host's: staff and shop customers
            # cannot share one flask-login setup yet.
            raise RuntimeError("This app already has a flask_login.LoginManager; the OMS back-office "
                               "needs its own. Mount the OMS before (or instead of) yours.")
        admin.configure_login(LoginManager(app, add_context_processor=False))
        app.context_processor(admin.current_user_for_templates)
        limiter, state.rate_limit_storage = init_limiter(app)
        state.limiter = limiter

        app.register_blueprint(assets.blueprint, url_prefix="/oms/static")
        app.register_blueprint(admin.blueprint, url_prefix=config[CONFIG_PREFIX + "ADMIN_PREFIX"])
        # Against password guessing and mailbox flooding: wrap the registered log-in,
        # forgot-password and link views in the limiter (one count for all of them).
        login_limit = limiter.shared_limit(config[CONFIG_PREFIX + "LOGIN_RATE_LIMIT"], scope="oms_login",
                                           methods=["POST"])
        for endpoint in admin.RATE_LIMITED_ENDPOINTS:
            app.view_functions[endpoint] = login_limit(app.view_functions[endpoint])
        app.register_blueprint(public.make_blueprint(limiter, config[CONFIG_PREFIX + "TRACKING_RATE_LIMIT"]),
                               url_prefix=config[CONFIG_PREFIX + "TRACKING_PREFIX"])
        app.register_blueprint(
            public_documents.make_blueprint(limiter, config[CONFIG_PREFIX + "TRACKING_RATE_LIMIT"]),
            url_prefix=config[CONFIG_PREFIX + "TRACKING_PREFIX"] + "/documents")
        app.register_blueprint(webhooks.blueprint, url_prefix=config[CONFIG_PREFIX + "WEBHOOK_PREFIX"])
        csrf.exempt(webhooks.blueprint)  # authenticated by the sender's signature instead
        app.register_blueprint(storefront.blueprint, url_prefix=config[CONFIG_PREFIX + "STOREFRONT_PREFIX"])
        storefront.install_jinja_helpers(app)
        install_schema_guard(app)
        install_input_guard(app)
        install_upload_limit(app)
        install_security_headers(app)


__all__ = ["OMS"]
