"""Browser-side protection of the OMS's pages and of the session cookie.

- Every response of an OMS blueprint says: never show me in a frame (clickjacking
  of the back-office's buttons), never guess my content type, and load scripts,
  styles and images from this site only, with nothing inline. The OMS's pages load
  only /oms/static files and write no inline script or style, so they meet it.
  A header a view set itself is kept. The host app's own pages are left alone.
- The public pages (tracking, storefront fragments) run without the visitor's
  session: they neither read it nor send a Set-Cookie back.
- The session cookie (the staff log-in rides on it) gets SameSite=Lax, and Secure
  when OMS_PUBLIC_BASE_URL is https, unless the host app chose otherwise.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, request
from flask.globals import request_ctx

from oms_core.constants import CONFIG_PREFIX

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
    "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'", "object-src 'none'",
])
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}


def install_security_headers(app: Flask) -> None:
    @app.after_request
    def _security_headers(response):
        if (request.blueprint or "").startswith("oms_"):
            for name, value in HEADERS.items():
                response.headers.setdefault(name, value)
        return response


def default_session_cookie(config) -> None:
    """Flask's own defaults leave SameSite unset and Secure off; a value the host set
    (anything but those defaults) is kept."""
    if config.get("SESSION_COOKIE_SAMESITE") is None:
        config["SESSION_COOKIE_SAMESITE"] = "Lax"
    if not config.get("SESSION_COOKIE_SECURE") and urlsplit(
            config[CONFIG_PREFIX + "PUBLIC_BASE_URL"]).scheme == "https":
        config["SESSION_COOKIE_SECURE"] = True


def without_session(blueprint: Blueprint) -> None:
    """The blueprint's views see an empty session that is never saved: no cookie is
    read into them or sent back (flask-login, loading the user for a template, would
    otherwise mark a visitor's session as changed and have it re-sent)."""
    @blueprint.before_request
    def _null_session():
        context = request_ctx._get_current_object()
        null = current_app.session_interface.make_null_session(current_app)
        # Flask 3.1 keeps the opened session in `_session` (`session` is a read-only
        # property there); earlier versions in `session`. Flask saves no null session.
        if hasattr(context, "_session"):
            context._session = null
        else:
            context.session = null
