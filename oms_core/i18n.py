"""The languages the OMS speaks to customers, and money and dates for a locale.

One home for: the shipped locales (a catalog each under oms_core/translations/),
the shop's locale and time zone (OMS_SHOP["locale"], OMS_SHOP["time_zone"]: no
second key for the same fact), the best match for a visitor's Accept-Language,
the gettext catalogs the core's own Jinja environments (emails, documents) install
per message, and Babel formatting of amounts and dates. Works without a request
(the worker renders emails and documents); web/i18n.py wires the same into Flask-Babel.
"""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from .errors import ValidationError
from .money import exponent

TRANSLATIONS_DIR = Path(__file__).with_name("translations")
DOMAIN = "messages"
# The customer-facing languages shipped with a catalog. English is the source text.
LOCALES = ("en", "de", "fr", "nl")
MAX_LOCALE_LENGTH = 16  # "en_GB", "pt_BR"...: Order.locale's column


def shop_locale() -> str:
    from . import shop

    return shop.details().locale


def shop_zone() -> ZoneInfo:
    from . import shop

    return ZoneInfo(shop.details().time_zone)


def language(locale: str | None) -> str:
    """The shipped catalog a locale is written in: 'de_AT' -> 'de'; unknown -> 'en'."""
    code = (locale or "").replace("-", "_").split("_")[0].lower()
    return code if code in LOCALES else "en"


def order_locale(choice: str | None) -> str:
    """The locale an order keeps: a shipped language the customer chose, or the shop's.
    The shop's own locale (e.g. de_CH) is kept whole when its language is chosen, so
    amounts keep the shop's regional format."""
    if choice is None or choice == "":
        return shop_locale()
    if not isinstance(choice, str) or len(choice) > MAX_LOCALE_LENGTH:
        raise ValidationError("Unknown language.")
    code = choice.replace("-", "_").split("_")[0].lower()
    if code not in LOCALES:
        raise ValidationError(
            f"Unknown language '{choice[:MAX_LOCALE_LENGTH]}': one of {', '.join(LOCALES)}.")
    own = shop_locale()
    return own if language(own) == code else code


def best_match(accept_language: str | None, *, default: str | None = None) -> str:
    """The shipped locale a browser's Accept-Language header prefers most (q-values
    honoured), or `default` (the shop's locale) when none is shipped."""
    from werkzeug.datastructures import LanguageAccept
    from werkzeug.http import parse_accept_header

    header = (accept_language or "")[:500]  # bounded: a header is not a place for essays
    offered = parse_accept_header(header, LanguageAccept)
    for value, quality in sorted(offered, key=lambda item: -item[1]):
        if quality <= 0:  # q=0: "not this one"
            continue
        code = value.replace("-", "_").split("_")[0].lower()
        if code in LOCALES:
            return order_locale(code)
    return default if default is not None else shop_locale()


@lru_cache(maxsize=None)
def translations(locale: str | None):
    """The gettext catalog for a locale (babel.support.Translations; English: the
    source text itself, through an empty catalog)."""
    from babel.support import NullTranslations, Translations

    code = language(locale)
    if code == "en":
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS_DIR), [code], DOMAIN)


def gettext(locale: str | None, text: str, **variables) -> str:
    translated = translations(locale).ugettext(text)
    return translated % variables if variables else translated


def N_(text: str) -> str:
    """Marks a text for the catalogs where it is defined; it is translated where shown."""
    return text


def format_money(minor: int, currency: str, locale: str) -> str:
    """1234 50 EUR -> '1.234,50 €' (de), '€ 1.234,50' (nl), '€1,234.50' (en_GB)."""
    from babel.numbers import format_currency

    if isinstance(minor, float):
        raise TypeError("Money is never a float: pass a string, int or Decimal.")
    return format_currency(Decimal(int(minor)).scaleb(-exponent(currency)), currency, locale=locale)


def local_time(value: datetime) -> datetime:
    """An instant in the shop's time zone (naive values are UTC, as stored)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(shop_zone())


def format_datetime(value: datetime | None, locale: str, *, with_zone: bool = False) -> str:
    """A date and time in the shop's time zone, written the locale's way."""
    if value is None:
        return ""
    from babel.dates import format_datetime as babel_format

    local = local_time(value)
    text = babel_format(local, "medium", tzinfo=local.tzinfo, locale=locale)
    return f"{text} {local.tzname()}" if with_zone else text


def format_date(value, locale: str, form: str = "medium") -> str:
    if value is None:
        return ""
    from babel.dates import format_date as babel_format

    if isinstance(value, datetime):
        value = local_time(value).date()
    return babel_format(value, form, locale=locale)


def locale_of(order) -> str:
    """The locale an order's emails and documents are written in."""
    return getattr(order, "locale", "") or shop_locale()
