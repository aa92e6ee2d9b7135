"""The shop's shipping settings: where parcels leave from, the packaging staff pick
from, and which carrier and service a destination gets by default.

OMS_SHIP_FROM: [{"code", "name", "line1", "city", "postal_code", "country",
  "company", "line2", "state", "phone", "email", "default"}, ...]
OMS_PACKAGING: [{"code", "label", "inner_mm": [l, w, h], "outer_mm": [l, w, h],
  "weight_grams", "default"}, ...] — the default (else the first) for parcels made in bulk.
OMS_SHIPPING_RULES: [{"countries": ["NL", "BE"] or "zone": "EU" or neither (any),
  "max_weight_grams" (optional), "carrier", "service"}, ...] — the first that fits wins.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from . import runtime
from .errors import ValidationError
from .protocols import Address

# The EU customs union (and Monaco, inside it): no customs declaration within it.
EU_COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK MC".split())
ZONES = {"EU": EU_COUNTRIES}
ADDRESS_KEYS = frozenset(Address.__dataclass_fields__)


@dataclass(frozen=True)
class Packaging:
    code: str
    label: str
    outer_mm: tuple[int, int, int] = (0, 0, 0)
    inner_mm: tuple[int, int, int] = (0, 0, 0)
    weight_grams: int = 0


@dataclass(frozen=True)
class Rule:
    carrier: str
    service: str = ""
    countries: frozenset = frozenset()  # empty: any destination
    max_weight_grams: Optional[int] = None

    def fits(self, country: str, weight_grams: int) -> bool:
        return ((not self.countries or country.upper() in self.countries)
                and (self.max_weight_grams is None or weight_grams <= self.max_weight_grams))


def _entries(name: str) -> list[dict]:
    entries = runtime.setting(name) or []
    if not isinstance(entries, (list, tuple)) or not all(isinstance(e, dict) for e in entries):
        raise ValidationError(f"OMS_{name} must be a list of mappings.")
    return list(entries)


def ship_from_addresses() -> dict[str, Address]:
    """Code -> address, the default first."""
    entries = sorted(_entries("SHIP_FROM"), key=lambda e: not e.get("default"))
    found = {}
    for entry in entries:
        fields = {k: str(v) for k, v in entry.items() if k in ADDRESS_KEYS}
        try:
            found[str(entry.get("code") or "default")] = Address(**fields)
        except TypeError as exc:
            raise ValidationError(f"OMS_SHIP_FROM: {exc}") from None
    return found


def ship_from(code: str = "") -> Optional[Address]:
    """The address with this code, the default one for no code; None when none is set."""
    addresses = ship_from_addresses()
    if code:
        if code not in addresses:
            raise ValidationError("Pick one of the shop's ship-from addresses.")
        return addresses[code]
    return next(iter(addresses.values()), None)


def _dimensions(value) -> tuple[int, int, int]:
    sizes = tuple(int(v) for v in (value or (0, 0, 0)))
    if len(sizes) != 3 or any(v < 0 for v in sizes):
        raise ValidationError("OMS_PACKAGING: dimensions are three sizes in millimetres.")
    return sizes


def packaging_presets() -> dict[str, Packaging]:
    return {str(e["code"]): Packaging(code=str(e["code"]), label=str(e.get("label") or e["code"]),
                                      outer_mm=_dimensions(e.get("outer_mm")),
                                      inner_mm=_dimensions(e.get("inner_mm")),
                                      weight_grams=int(e.get("weight_grams") or 0))
            for e in _entries("PACKAGING") if e.get("code")}


def packaging(code: str) -> Optional[Packaging]:
    if not code:
        return None
    presets = packaging_presets()
    if code not in presets:
        raise ValidationError("Pick one of the packaging presets.")
    return presets[code]


def default_packaging() -> Optional[Packaging]:
    """The preset with "default": true, else the first; None when there are none.
    What a parcel made without staff choosing gets (services.bulk)."""
    presets = packaging_presets()
    marked = [str(e["code"]) for e in _entries("PACKAGING") if e.get("code") and e.get("default")]
    return presets[marked[0]] if marked else next(iter(presets.values()), None)


def rules() -> list[Rule]:
    found = []
    for entry in _entries("SHIPPING_RULES"):
        countries = frozenset(c.upper() for c in entry.get("countries") or ())
        if entry.get("zone"):
            countries |= ZONES.get(str(entry["zone"]).upper(), frozenset())
        limit = entry.get("max_weight_grams")
        found.append(Rule(carrier=str(entry.get("carrier", "")), service=str(entry.get("service", "")),
                          countries=countries, max_weight_grams=int(limit) if limit is not None else None))
    return found


def preferred(country: str, weight_grams: int) -> Optional[Rule]:
    """The carrier and service a parcel to `country` of this weight gets by default."""
    return next((rule for rule in rules() if rule.fits(country, weight_grams)), None)


def needs_customs(from_country: str, to_country: str) -> bool:
    """Whether the parcel crosses the EU customs union's border (or two non-EU countries')."""
    a, b = from_country.upper(), to_country.upper()
    if not a or not b or a == b:
        return False
    return not (a in EU_COUNTRIES and b in EU_COUNTRIES)
