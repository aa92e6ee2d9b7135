"""Display helpers for back-office templates, as `fmt.*` (a blueprint context
processor, so they never clash with the host app's own filters)."""
from __future__ import annotations

from datetime import date, datetime, timezone
from types import SimpleNamespace

from oms_core import money, order_states, tracking_codes
from oms_core.services.shipments import STATUS_LABELS as TRACKING_LABELS

from . import blueprint

_STATUS_TONES = {
    order_states.PLACED: "warn", order_states.CONFIRMED: "", order_states.PAID: "",
    order_states.FULFILLING: "", order_states.SHIPPED: "ok", order_states.DELIVERED: "ok",
    order_states.CLOSED: "ok", order_states.CANCELLED: "bad", order_states.RETURN_REQUESTED: "warn",
    order_states.RETURN_REJECTED: "bad",
}
_PAYMENT_TONES = {"unpaid": "warn", "partially_paid": "warn", "paid": "ok"}
_TRACKING_TONES = {"delivered": "ok", "exception": "bad", "returned_to_sender": "bad",
                   "delivery_attempted": "warn", "cancelled": "bad", "expired": "warn"}


def amount(minor: int, currency: str) -> str:
    return money.format_amount(minor, currency)


def amount_input(minor: int, currency: str) -> str:
    """Minor units as the text a staff member would type: 1250 EUR -> '12.50'."""
    return money.format_amount(minor, currency).split(" ")[0].replace(",", "")


def when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def words(value: str | None) -> str:
    """'partially_paid' -> 'partially paid'."""
    return (value or "").replace("_", " ")


def badge_class(kind: str, value: str | None) -> str:
    tones = {"order": _STATUS_TONES, "payment": _PAYMENT_TONES, "tracking": _TRACKING_TONES}[kind]
    tone = tones.get(value or "", "")
    return f"badge badge-{tone}" if tone else "badge"


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
                          badge_class=badge_class, tracking_code=tracking_code,
                          tracking_label=lambda status: TRACKING_LABELS.get(status, words(status)),
                          status_label=lambda status: words(status).capitalize())


@blueprint.context_processor
def _helpers():
    return {"fmt": HELPERS}
