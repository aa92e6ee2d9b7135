"""Rendering of documents: a snapshot (services.documents) to HTML to PDF.

Its own Jinja loader (like oms_core/email_templates), autoescaped, so the worker
renders without the web package and every text a customer or staff typed is
escaped. Amounts and dates are formatted for the shop's locale with Babel.
WeasyPrint is imported here, inside `pdf`, never when a web worker starts.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

from ..money import exponent
from ..taxes import format_rate

_TEMPLATES = Environment(loader=PackageLoader("oms_core.documents", "templates"), autoescape=True,
                         undefined=StrictUndefined)


def html(data: dict) -> str:
    """The document's HTML from its snapshot alone."""
    from babel.dates import format_date
    from babel.numbers import format_currency

    shop = data["shop"]
    locale, zone = shop["locale"], ZoneInfo(shop["time_zone"])

    def money(minor: int, currency: str | None = None) -> str:
        currency = currency or data["currency"]
        return format_currency(Decimal(int(minor)).scaleb(-exponent(currency)), currency, locale=locale)

    def day(iso: str) -> str:
        return format_date(datetime.fromisoformat(iso).astimezone(zone).date(), "medium", locale=locale)

    template = _TEMPLATES.get_template(f"{data['kind']}.html")
    return template.render(d=data, shop=shop, money=money, day=day, rate=format_rate)


def pdf(markup: str) -> bytes:
    import weasyprint

    return weasyprint.HTML(string=markup).write_pdf()


def render(data: dict) -> bytes:
    return pdf(html(data))
