"""Turn form text into the plain values services take. Bad input raises the core's
ValidationError, so views handle it like any other domain error."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

from oms_core import money
from oms_core.errors import ValidationError


def text(form, name: str) -> str:
    return (form.get(name) or "").strip()


def whole_number(value: str, label: str, *, signed: bool = False) -> int:
    """'12' -> 12; '+5' / '-3' too when `signed`."""
    raw = (value or "").strip()
    body = raw[1:] if signed and raw[:1] in "+-" else raw
    if not body.isdigit():
        kind = "a whole number (e.g. 5 or -2)" if signed else "a whole number"
        raise ValidationError(f"{label} must be {kind}, not '{raw}'." if raw else f"{label} is required.")
    return int(raw)


def optional_whole_number(value: str, label: str) -> int | None:
    """Blank -> None (e.g. 'use the shop default'), else a whole number."""
    return whole_number(value, label) if (value or "").strip() else None


def optional_percent(value: str, label: str) -> float | None:
    """'95' or '97.5%' -> 0.95 / 0.975; blank -> None."""
    raw = (value or "").strip().removesuffix("%").strip()
    if not raw:
        return None
    try:
        number = Decimal(raw)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise ValidationError(f"{label} must be a percentage (e.g. 95), not '{value.strip()}'.")
    return float(number / 100)


def amount(value: str, currency: str, label: str = "Amount") -> int:
    """'12.50' in EUR -> 1250 minor units."""
    if not (value or "").strip():
        raise ValidationError(f"{label} is required.")
    return money.parse_amount(value, currency)


def utc_time(value: str, *, default_now: bool = True) -> datetime:
    """An <input type="datetime-local"> value, read as UTC (the back-office shows UTC);
    empty means now."""
    raw = (value or "").strip()
    if not raw:
        if default_now:
            return datetime.now(timezone.utc)
        raise ValidationError("A time is required.")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError(f"'{raw}' is not a date and time (YYYY-MM-DD HH:MM).") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def checkbox(form, name: str) -> bool:
    return form.get(name) in ("1", "on", "true", "yes")
