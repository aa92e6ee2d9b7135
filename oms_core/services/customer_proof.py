"""Proof that an order is the customer's, before its documents (with name, address
and amounts) are shown to them (docs/architecture.md, invariant 6).

Two proofs: the order's tracking code together with its email, typed on the
documents page (compared case-insensitively and in constant time; one answer for
an unknown code and a wrong email, so nothing can be learnt by trying), or a
signed, expiring link sent in the customer's emails (itsdangerous, keyed by the
app's SECRET_KEY). Either grants access to that one order for
OMS_DOCUMENT_ACCESS_MINUTES, kept in the visitor's (signed) session.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from typing import MutableMapping

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from .. import limits, runtime, tracking_codes
from ..db import db
from ..errors import ValidationError
from ..models import Customer, Order

SESSION_KEY = "oms_document_access"
NOT_PROVEN = "That tracking code and email do not belong to one order. Check both and try again."
_SALT = "oms-customer-documents"
_NOBODY = hashlib.sha256(b"no order has this code").digest()


def _digest(email: str) -> bytes:
    return hashlib.sha256(email.strip().lower().encode()).digest()


def prove(code: str, email: str) -> int:
    """The id of the order with this tracking code and email, or ValidationError
    (NOT_PROVEN, the same for every way of being wrong)."""
    normal = tracking_codes.normalise(code or "")
    found = None
    if tracking_codes.is_well_formed(normal):
        found = db.session.execute(select(Order.id, Customer.email).join(Customer).where(
            Order.tracking_code == normal)).first()
    expected = _digest(found.email) if found else _NOBODY
    if not hmac.compare_digest(expected, _digest(email or "")) or found is None:
        raise ValidationError(NOT_PROVEN)
    return found.id


def grant(session: MutableMapping, order_id: int) -> None:
    """Let this visitor see the order's documents for a while."""
    minutes = runtime.setting("DOCUMENT_ACCESS_MINUTES")
    now = int(time.time())
    grants = {key: until for key, until in dict(session.get(SESSION_KEY) or {}).items() if until > now}
    grants[str(order_id)] = now + 60 * minutes
    session[SESSION_KEY] = grants


def granted(session: MutableMapping, order_id: int) -> bool:
    until = (session.get(SESSION_KEY) or {}).get(str(order_id))
    return isinstance(until, int) and until > time.time()


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def link_token(order_id: int) -> str:
    """The token of a link that proves the order, for the customer's emails."""
    return _serializer().dumps({"order": order_id})


def order_from_link(token: str) -> int:
    """The order a link's token proves, or ValidationError when it is forged, broken
    or older than OMS_DOCUMENT_LINK_DAYS."""
    max_age = 86_400 * runtime.setting("DOCUMENT_LINK_DAYS")
    try:
        data = _serializer().loads(token or "", max_age=max_age)
    except BadSignature:
        raise ValidationError("This link has expired or is not valid: ask for the documents with your "
                              "tracking code and email.") from None
    order_id = data.get("order") if isinstance(data, dict) else None
    if not limits.is_id(order_id):
        raise ValidationError("This link is not valid.")
    return order_id
