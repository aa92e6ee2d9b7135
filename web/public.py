"""The public tracking page: a customer types the code from their confirmation and
sees where the order is, without logging in (docs/architecture.md, invariant 6).

The view only parses the code and renders the projection built by
`oms_core.services.tracking_view`; it never touches an ORM object. Lookups are
rate-limited per client address against guessing, and responses are neither
cached, indexed nor sent on as a referrer (the code is in the URL).
"""
from __future__ import annotations

import hashlib

from flask import Blueprint, redirect, render_template, request, url_for
from flask_limiter.util import get_remote_address
from limits import parse_many
from werkzeug.exceptions import TooManyRequests

from oms_core import i18n, tracking_cache
from oms_core.constants import CONFIG_PREFIX
from oms_core.errors import NotFound
from oms_core.services import payment_ops, tracking_view

from .badges import tone
from .errors import answer_domain_errors_inline
from .hardening import without_session

TRACK_TEMPLATE = "oms/public/track.html"
TRACK_TEMPLATE_PARTS = ("oms/public/layout.html", "oms/_badge.html")
PRIVATE_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
}


def make_blueprint(limiter, limit: str) -> Blueprint:
    blueprint = Blueprint("oms_public", __name__)
    answer_domain_errors_inline(blueprint)
    without_session(blueprint)

    rendering = {}  # what else the page depends on: its templates and catalogs, set up below
    limits = tuple(tracking_cache.Limit(item.amount, item.get_expiry()) for item in parse_many(limit))

    @blueprint.record_once
    def _note_rendering(setup_state):
        rendering["identity"] = page_identity(setup_state.app)

    @limiter.limit(limit, exempt_when=lambda: not request.args.get("code", "").strip())
    def counted_by_limiter():  # without the cache (off, or Redis not reachable)
        return render_track_page(tracking_view.lookup(request.args.get("code", "")))

    @blueprint.route("")
    def track():
        variant = page_variant(rendering["identity"])
        try:
            page = tracking_view.cached_page(request.args.get("code", ""), variant, render_track_page,
                                             client=get_remote_address(), limits=limits)
        except tracking_cache.LookupLimited as limited:
            raise TooManyRequests(retry_after=limited.retry_after) from None
        return counted_by_limiter() if page is None else page

    @blueprint.route("/pay")
    @limiter.limit(limit)
    def pay():
        """Pay now: the tracking code (a 65-bit secret) authorises paying the order's
        balance; the page shows only the order number and the amount."""
        try:
            page = payment_ops.pay_now(request.args.get("code", ""), lambda shown: url_for(
                "oms_public.track", code=shown, _external=True))
        except NotFound:
            return render_template("oms/public/pay.html", found=False), 404
        if page.redirect_url:
            return redirect(page.redirect_url, 303)
        return render_template("oms/public/pay.html", found=True, **vars(page))

    private_pages(blueprint)
    return blueprint


def render_track_page(result: tracking_view.TrackingLookup) -> str:
    status_tone = tone("order", result.order.status) if result.order else ""
    return render_template(TRACK_TEMPLATE, result=result, status_tone=status_tone)


def page_variant(identity: str) -> str:
    """What the tracking page depends on besides its order: the build (`identity`), the
    language asked for and the URL root. The language is keyed by what the visitor
    sent, not the locale chosen from it, so that a page served from the cache costs
    no locale negotiation; a digest keeps the key short whatever the header holds."""
    asked = (request.args.get("lang", ""), request.headers.get("Accept-Language", ""), request.script_root)
    return hashlib.blake2b("\0".join((identity, *asked)).encode(), digest_size=12).hexdigest()


def page_identity(app) -> str:
    """A digest of what a cached tracking page was rendered with besides its order and
    language: the templates as this app resolves them (a host may override them), the
    translation catalogs and the shop's name. A new release gets new cache keys."""
    digest = hashlib.sha256(app.config[CONFIG_PREFIX + "SHOP_NAME"].encode())
    for name in (TRACK_TEMPLATE, *TRACK_TEMPLATE_PARTS):
        digest.update(app.jinja_env.loader.get_source(app.jinja_env, name)[0].encode())
    for catalog in sorted(i18n.TRANSLATIONS_DIR.glob("*/LC_MESSAGES/*.mo")):
        digest.update(catalog.read_bytes())
    return digest.hexdigest()[:16]


def private_pages(blueprint: Blueprint) -> None:
    """Customer pages: a page of its own when rate-limited, and never cached,
    indexed or sent on as a referrer."""
    @blueprint.errorhandler(429)
    def too_many_lookups(error):
        # flask-limiter's answers get Retry-After later (web/ratelimit.py); the cache's
        # own count (web/public.py) says it here.
        retry_after = getattr(error, "retry_after", None)
        return (render_template("oms/public/too_many.html"), 429,
                {"Retry-After": str(retry_after)} if isinstance(retry_after, int) else {})

    @blueprint.after_request
    def private_page_headers(response):
        response.headers.update(PRIVATE_PAGE_HEADERS)
        return response
