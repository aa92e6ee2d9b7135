"""Flask-Babel for the OMS's pages: which language a page speaks, and money and
dates for it (oms_core/i18n.py holds the locales, catalogs and formatting).

- Customer pages (tracking, documents, returns, storefront fragments): the
  visitor's ?lang= or Accept-Language, best match among the shipped locales, else
  the shop's locale. They set no cookie, so the choice is made per request.
- The back-office and anything else: the shop's locale (OMS_SHOP["locale"]).
- Times: the shop's time zone (OMS_SHOP["time_zone"]), never UTC.
Templates get `_`/gettext from Flask-Babel and the filters `oms_money` and
`oms_datetime`, which format for the page's locale.
"""
from __future__ import annotations

from flask import Flask, request
from flask_babel import Babel, get_locale

from oms_core import i18n

# The blueprints whose pages a customer reads.
CUSTOMER_BLUEPRINTS = frozenset({"oms_public", "oms_documents", "oms_storefront"})
MAX_LANG_PARAMETER = 16


def select_locale() -> str:
    if request.blueprint not in CUSTOMER_BLUEPRINTS:
        return i18n.shop_locale()
    wanted = request.args.get("lang", "")[:MAX_LANG_PARAMETER]
    if wanted and i18n.language(wanted) == wanted.replace("-", "_").split("_")[0].lower():
        return i18n.order_locale(i18n.language(wanted))
    return i18n.best_match(request.headers.get("Accept-Language"))


def select_time_zone() -> str:
    return str(i18n.shop_zone())


def page_locale() -> str:
    return str(get_locale() or i18n.shop_locale())


def money_filter(minor: int, currency: str) -> str:
    return i18n.format_money(minor, currency, page_locale())


def datetime_filter(value, *, zone: bool = True) -> str:
    return i18n.format_datetime(value, page_locale(), with_zone=zone)


def init_babel(app: Flask) -> None:
    """Flask-Babel with the OMS's catalogs; a host app that set up Flask-Babel itself
    keeps its own (it adds oms_core/translations to BABEL_TRANSLATION_DIRECTORIES)."""
    if "babel" not in app.extensions:
        Babel(app, locale_selector=select_locale, timezone_selector=select_time_zone,
              default_translation_directories=str(i18n.TRANSLATIONS_DIR))
    app.jinja_env.filters["oms_money"] = money_filter
    app.jinja_env.filters["oms_datetime"] = datetime_filter
    app.jinja_env.globals["oms_locale"] = lambda: i18n.language(page_locale())
    app.jinja_env.globals["oms_full_date"] = lambda day: i18n.format_date(day, page_locale(), "full")
