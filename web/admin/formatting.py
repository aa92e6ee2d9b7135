"""Display helpers for back-office templates, as `fmt.*` (a blueprint context
processor, so they never clash with the host app's own filters)."""
from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace

from oms_core import i18n, links, money, taxes, tracking_codes
from oms_core.models import order_number
from oms_core.services import storefront
from oms_core.services.shipments import STATUS_LABELS as TRACKING_LABELS

from ..badges import tone
from . import blueprint


def amount(minor: int, currency: str) -> str:
    """Written the shop's way (OMS_SHOP["locale"]): '€1,234.50' (en_GB), '1.234,50 €' (de)."""
    return i18n.format_money(minor, currency, i18n.shop_locale())


def amount_input(minor: int, currency: str) -> str:
    """Minor units as the text a staff member would type: 1250 EUR -> '12.50'."""
    return money.format_amount(minor, currency).split(" ")[0].replace(",", "")


def when(value: datetime | None) -> str:
    """In the shop's time zone and locale, the zone named: '30 Nov 2026, 09:15:00 CET'."""
    return i18n.format_datetime(value, i18n.shop_locale(), with_zone=True)


def words(value: str | None) -> str:
    """'partially_paid' -> 'partially paid'."""
    return (value or "").replace("_", " ")


def stock_state(product) -> str:
    return storefront.stock_state(product.available, product.low_stock_threshold)


def units(value: float | None) -> str:
    """Forecast units, which are rarely whole: one decimal."""
    return "" if value is None else f"{value:.1f}"


def percent(value: float | None, *, signed: bool = False) -> str:
    """0.953 -> '95.3%'; None (not measurable, e.g. no sales in the hold-out) -> '–'."""
    if value is None:
        return "–"
    return f"{value * 100:+.1f}%" if signed else f"{value * 100:.1f}%"


def ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def day(value: date | None) -> str:
    return value.isoformat() if value else ""


def tracking_code(code: str | None) -> str:
    return tracking_codes.display(code) if code else ""


HELPERS = SimpleNamespace(amount=amount, amount_input=amount_input, when=when, words=words, units=units,
                          percent=percent, ratio=ratio, day=day,
                          tone=tone, stock_state=stock_state, tracking_code=tracking_code,
                          order_number=order_number, web_link=links.web_link, tax_rate=taxes.format_rate,
                          tracking_label=lambda status: TRACKING_LABELS.get(status, words(status)),
                          status_label=lambda status: words(status).capitalize())


@blueprint.context_processor
def _helpers():
    return {"fmt": HELPERS}
