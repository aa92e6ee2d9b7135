"""The public tracking page: a customer types the code from their confirmation and
sees where the order is, without logging in (docs/architecture.md, invariant 6).

The view only parses the code and renders the projection built by
`oms_core.services.tracking_view`; it never touches an ORM object. Lookups are
rate-limited per client address against guessing, and responses are neither
cached, indexed nor sent on as a referrer (the code is in the URL).
"""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from oms_core.errors import NotFound
from oms_core.services import payment_ops, tracking_view

from .badges import tone
from .errors import answer_domain_errors_inline
from .hardening import without_session

PRIVATE_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
}


def make_blueprint(limiter, limit: str) -> Blueprint:
    blueprint = Blueprint("oms_public", __name__)
    answer_domain_errors_inline(blueprint)
    without_session(blueprint)

    @blueprint.route("")
    @limiter.limit(limit, exempt_when=lambda: not request.args.get("code", "").strip())
    def track():
        result = tracking_view.lookup(request.args.get("code", ""))
        status_tone = tone("order", result.order.status) if result.order else ""
        return render_template("oms/public/track.html", result=result, status_tone=status_tone)

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


def private_pages(blueprint: Blueprint) -> None:
    """Customer pages: a page of its own when rate-limited, and never cached,
    indexed or sent on as a referrer."""
    @blueprint.errorhandler(429)
    def too_many_lookups(_error):
        return render_template("oms/public/too_many.html"), 429

    @blueprint.after_request
    def private_page_headers(response):
        response.headers.update(PRIVATE_PAGE_HEADERS)
        return response
