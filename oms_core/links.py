"""Which URLs may be shown as links: absolute web addresses only.

A URL from a plugin or a carrier ends up in an href on staff and customer pages,
so anything else (javascript:, data:, a bare path) is shown as text, never linked.
"""
from __future__ import annotations

from urllib.parse import urlsplit

WEB_SCHEMES = ("https", "http")


def is_web_url(url, schemes: tuple[str, ...] = WEB_SCHEMES) -> bool:
    """An absolute URL with one of `schemes` and a host."""
    if not isinstance(url, str) or not url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a malformed IPv6 host
        return False
    return parts.scheme.lower() in schemes and bool(parts.netloc)


def web_link(url) -> str | None:
    """`url` when it may be a link, else None."""
    return url if is_web_url(url) else None
