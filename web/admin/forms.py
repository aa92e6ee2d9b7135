"""Turn form text into the plain values services take. Bad input raises the core's
ValidationError, so views handle it like any other domain error."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timezone
from decimal import Decimal

from oms_core import limits, money, order_states
from oms_core.errors import ValidationError


def text(form, name: str) -> str:
    return (form.get(name) or "").strip()


def whole_number(value: str, label: str, *, signed: bool = False, minimum: int | None = None,
                 maximum: int = limits.MAX_STOCK) -> int:
    """'12' -> 12; '+5' / '-3' too when `signed`. ASCII digits only, and within
    [minimum, maximum] (minimum: 0, or -maximum when signed)."""
    raw = (value or "").strip()
    if not raw:
        raise ValidationError(f"{label} is required.")
    if not limits.WHOLE_NUMBER.fullmatch(raw) or (not signed and raw[0] in "+-"):
        kind = "a whole number (e.g. 5 or -2)" if signed else "a whole number"
        raise ValidationError(f"{label} must be {kind}, not '{raw[:40]}'.")
    if minimum is None:
        minimum = -maximum if signed else 0
    return limits.check_whole(int(raw), label, minimum=minimum, maximum=maximum)


def optional_whole_number(value: str, label: str, **bounds) -> int | None:
    """Blank -> None (e.g. 'use the shop default'), else a whole number."""
    return whole_number(value, label, **bounds) if (value or "").strip() else None


# A percentage as typed: up to three digits, up to three decimals ('97.5').
_PERCENT = re.compile(r"[0-9]{1,3}([.,][0-9]{1,3})?")


def optional_percent(value: str, label: str) -> float | None:
    """'95' or '97.5%' -> 0.95 / 0.975; blank -> None. Anything else (an exponent, a
    thousand digits) is refused before Decimal arithmetic could overflow on it."""
    raw = (value or "").strip().removesuffix("%").strip()
    if not raw:
        return None
    if not _PERCENT.fullmatch(raw):
        raise ValidationError(f"{label} must be a percentage (e.g. 95), not '{value.strip()[:40]}'.")
    return float(Decimal(raw.replace(",", ".")) / 100)


def amount(value: str, currency: str, label: str = "Amount") -> int:
    """'12.50' in EUR -> 1250 minor units."""
    if not (value or "").strip():
        raise ValidationError(f"{label} is required.")
    return money.parse_amount(value, currency)


def refund_lines(form, line_ids) -> dict[int, int]:
    """The quantities typed per order line (fields `line-<id>`), blanks left out."""
    quantities = {}
    for line_id in line_ids:
        quantity = optional_whole_number(form.get(f"line-{line_id}"), "Quantity",
                                         maximum=limits.MAX_ORDER_QUANTITY)
        if quantity:
            quantities[line_id] = quantity
    return quantities


def parcel_lines(form, line_ids) -> dict[int, int] | None:
    """The units per order line picked into a parcel (fields `line-<id>`); None when
    the form names no line at all (a parcel of everything left)."""
    if not any(f"line-{line_id}" in form for line_id in line_ids):
        return None
    return refund_lines(form, line_ids)


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
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        # Year 1 or 9999 with an offset overflows here: refused like a typo.
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise ValidationError(f"'{raw[:40]}' is not a date and time (YYYY-MM-DD HH:MM).") from None


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(r"[0-9]{2}:[0-9]{2}(:[0-9]{2})?")


def day(value: str, label: str = "Date") -> date:
    """An <input type="date"> value (YYYY-MM-DD)."""
    raw = (value or "").strip()
    if not raw:
        raise ValidationError(f"{label} is required.")
    try:
        if not _DATE.fullmatch(raw):
            raise ValueError
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(f"{label} must be a date (YYYY-MM-DD), not '{raw[:40]}'.") from None


def time_of_day(value: str, label: str) -> time:
    """An <input type="time"> value (HH:MM)."""
    raw = (value or "").strip()
    if not raw:
        raise ValidationError(f"{label} is required.")
    try:
        if not _TIME.fullmatch(raw):
            raise ValueError
        return time.fromisoformat(raw)
    except ValueError:
        raise ValidationError(f"{label} must be a time (HH:MM), not '{raw[:40]}'.") from None


def query_id(args, name: str) -> int | None:
    """An id in the query string (a cursor such as `?before=`): None when absent; a
    value that is not an id in range is refused, never sent to the database."""
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    value = limits.parse_id(raw)
    if value is None:
        raise ValidationError(f"'{raw[:40]}' is not a valid {name} value.")
    return value


def checkbox(form, name: str) -> bool:
    return form.get(name) in ("1", "on", "true", "yes")


def order_filters(args) -> dict:
    """The orders list's filters from a query string (a known status, a search term
    cut to 200 characters): for the list and its CSV exports alike."""
    status = args.get("status", "")
    return {"status": status if status in order_states.STATUSES else "",
            "search": args.get("q", "").strip()[:200]}


def upload(files, name: str, max_bytes: int) -> bytes:
    """An uploaded file's bytes, read no further than one byte past `max_bytes` (the
    service refuses the file as too big then)."""
    upload = files.get(name)
    if upload is None or not upload.filename:
        raise ValidationError("Choose a CSV file to upload.")
    return upload.stream.read(max_bytes + 1)
def numbered_fields(form, prefix: str, limit: int = 200) -> dict[int, str]:
    """Fields named `<prefix>-<id>` (one per line of a form): {id: text}. Names whose
    id is not one are left out; the service refuses ids that are not its lines."""
    found = {}
    pattern = re.compile(re.escape(prefix) + r"-([0-9]{1,10})")
    for key in list(form.keys())[:limit * 4]:
        match = pattern.fullmatch(key)
        row_id = limits.parse_id(match.group(1)) if match else None
        if row_id is not None and len(found) < limit:
            found[row_id] = (form.get(key) or "").strip()
    return found


def line_quantities(form, prefix: str = "qty") -> dict[int, int]:
    """Quantities typed per line (fields `qty-<line id>`), blanks and zeros left out."""
    quantities = {}
    for line_id, raw in numbered_fields(form, prefix).items():
        quantity = optional_whole_number(raw, "Quantity", maximum=limits.MAX_ORDER_QUANTITY)
        if quantity:
            quantities[line_id] = quantity
    return quantities


def return_receipts(form):
    """What staff received per return line (fields `received-<id>`, `condition-<id>`,
    `write_off_reason-<id>`): {return line id: Receipt}; blanks are none received."""
    from oms_core.services.returns import Receipt

    found = {}
    for line_id, raw in numbered_fields(form, "received").items():
        received = optional_whole_number(raw, "Units received", maximum=limits.MAX_ORDER_QUANTITY) or 0
        found[line_id] = Receipt(received, text(form, f"condition-{line_id}")[:16],
                                 text(form, f"write_off_reason-{line_id}"))
    return found


def exchange_lines(form) -> list[tuple[str, int]] | None:
    """The replacement's (sku, quantity) typed per return line (fields `sku-<id>`,
    `qty-<id>`); None when every field is blank (the same SKUs as received)."""
    skus, quantities = numbered_fields(form, "sku"), numbered_fields(form, "qty")
    if not any(skus.values()) and not any(quantities.values()):
        return None
    return [(sku[:64], whole_number(quantities.get(line_id, ""), f"Quantity of {sku[:64]}",
                                    maximum=limits.MAX_ORDER_QUANTITY))
            for line_id, sku in sorted(skus.items()) if sku and quantities.get(line_id, "") not in ("", "0")]
