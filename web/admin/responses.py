"""One rule for every back-office action: an HTMX request gets the fragment it
swaps in (errors shown inline, status 200 so htmx swaps it); a plain form post gets
a flash message and a redirect (post/redirect/get)."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template


def wants_fragment() -> bool:
    """An htmx request that swaps part of a page (a history restore or a boosted
    link needs the whole page)."""
    htmx = getattr(current_app, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request and not htmx.boosted


def vary_on_htmx(response):
    """The same URL answers with a page or a fragment: caches must keep them apart."""
    response.vary.add("HX-Request")
    return response


def action_result(*, fragment: str, context: dict, redirect_to: str, message: str | None = None,
                  error: str | None = None):
    if wants_fragment():
        return render_template(fragment, message=message, error=error, **context)
    if error:
        flash(error, "error")
    elif message:
        flash(message, "info")
    return redirect(redirect_to)
