"""The seller's details printed on documents, from the OMS_SHOP mapping.

Read when a document is issued and copied into its snapshot: a later change of
address or bank account never changes a document already issued.
"""
from __future__ import annotations

import base64
import mimetypes
from dataclasses import asdict, dataclass
from pathlib import Path

from . import runtime
from .errors import ValidationError

MAX_LOGO_BYTES = 512 * 1024  # copied into every document's snapshot


@dataclass(frozen=True)
class ShopDetails:
    legal_name: str
    address_lines: tuple[str, ...] = ()
    country: str = ""  # ISO 3166 alpha-2: the tax country of orders without an address
    vat_number: str = ""
    registration_number: str = ""
    bank_name: str = ""
    iban: str = ""
    bic: str = ""
    logo_path: str = ""
    footer: str = ""
    locale: str = "en_GB"  # Babel locale of amounts and dates on documents
    time_zone: str = "UTC"  # dates on documents, and the year of a document number
    payment_terms_days: int = 14  # an unpaid bank-transfer invoice is due after this

    def snapshot(self) -> dict:
        """What a document keeps of the seller, the logo's bytes included."""
        data = asdict(self)
        data["address_lines"] = list(self.address_lines)
        data["logo"] = logo_data_uri(self.logo_path)
        del data["logo_path"]
        return data


FIELDS = set(ShopDetails.__dataclass_fields__)


def details() -> ShopDetails:
    """The shop's details from OMS_SHOP; the legal name defaults to OMS_SHOP_NAME."""
    raw = dict(runtime.setting("SHOP") or {})
    unknown = sorted(set(raw) - FIELDS)
    if unknown:
        raise ValidationError(f"OMS_SHOP has unknown keys: {', '.join(unknown)}.")
    raw.setdefault("legal_name", runtime.setting("SHOP_NAME"))
    lines = raw.get("address_lines") or ()
    raw["address_lines"] = tuple([lines] if isinstance(lines, str) else lines)
    raw["country"] = str(raw.get("country", "")).upper()
    return ShopDetails(**raw)


def check_settings() -> None:
    """Refuse, at start-up, settings documents could not be issued with: unknown
    OMS_SHOP keys, a locale Babel does not know, an unknown time zone, tax rates out
    of range, an OMS_INVOICE_ON that is neither "paid" nor "confirmed"."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from babel import Locale, UnknownLocaleError

    from .taxes import check_rate

    shop = details()
    try:
        Locale.parse(shop.locale)
        ZoneInfo(shop.time_zone)
    except (UnknownLocaleError, ValueError, ZoneInfoNotFoundError) as exc:
        raise ValidationError(f"OMS_SHOP: {exc}") from None
    for tax_class, rates in (runtime.setting("TAX_CLASSES") or {}).items():
        if not isinstance(rates, dict):
            raise ValidationError(f"OMS_TAX_CLASSES['{tax_class}'] must map countries to rates.")
        for rate in rates.values():
            check_rate(rate)
    if runtime.setting("INVOICE_ON") not in ("paid", "confirmed"):
        raise ValidationError('OMS_INVOICE_ON must be "paid" or "confirmed".')


def logo_data_uri(path: str) -> str:
    """The logo file as a data: URI (so the snapshot holds the picture itself), or ''."""
    if not path:
        return ""
    file = Path(path)
    size = file.stat().st_size
    if size > MAX_LOGO_BYTES:
        raise ValidationError(f"The logo {path} is larger than {MAX_LOGO_BYTES // 1024} KB.")
    kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    if not kind.startswith("image/"):
        raise ValidationError(f"The logo {path} is not an image file.")
    return f"data:{kind};base64,{base64.b64encode(file.read_bytes()).decode()}"
