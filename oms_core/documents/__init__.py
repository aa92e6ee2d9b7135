"""Rendering of documents: a snapshot (services.documents) to HTML to PDF.

Its own Jinja loader (like oms_core/email_templates), autoescaped, so the worker
renders without the web package and every text a customer or staff typed is
escaped. Labels, amounts and dates are in the locale the document was issued in
(the order's, kept in its snapshot), amounts and dates formatted with Babel.
WeasyPrint is imported here, inside `pdf`, never when a web worker starts.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from decimal import Decimal
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

from ..i18n import language, translations
from ..money import exponent
from ..taxes import format_rate


@lru_cache(maxsize=None)
def _templates(language: str) -> Environment:
    """The document templates in one shipped language (gettext from its catalog)."""
    env = Environment(loader=PackageLoader("oms_core.documents", "templates"), autoescape=True,
                      undefined=StrictUndefined, extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(translations(language), newstyle=True)
    return env


def html(data: dict) -> str:
    """The document's HTML from its snapshot alone: in the customer's locale kept in
    it when issued (documents issued before languages: the shop's), so re-rendering
    an issued document always gives the same words, amounts and dates."""
    from babel.dates import format_date
    from babel.numbers import format_currency

    shop = data["shop"]
    locale, zone = data.get("locale") or shop["locale"], ZoneInfo(shop["time_zone"])

    def money(minor: int, currency: str | None = None) -> str:
        currency = currency or data["currency"]
        return format_currency(Decimal(int(minor)).scaleb(-exponent(currency)), currency, locale=locale)

    def day(iso: str) -> str:
        return format_date(datetime.fromisoformat(iso).astimezone(zone).date(), "medium", locale=locale)

    template = _templates(language(locale)).get_template(f"{data['kind']}.html")
    return template.render(d=data, shop=shop, money=money, day=day, rate=format_rate, lang=language(locale))


def pdf(markup: str) -> bytes:
    import weasyprint

    return weasyprint.HTML(string=markup).write_pdf()


def render(data: dict) -> bytes:
    return pdf(html(data))
