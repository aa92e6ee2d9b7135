"""The common webhook signature scheme, for plugins whose sender uses it and for
their tests: HMAC-SHA256, keyed with the plugin's `webhook_secret` setting, over
"<timestamp>.<raw body>", with the timestamp (Unix seconds) and the hex digest sent
in two headers. The timestamp is signed too, so an old delivery cannot be replayed
beyond the tolerance. A sender that signs another way is verified by the plugin's
own code (docs/plugins.md, "Webhooks").
"""
from __future__ import annotations

import hashlib
import hmac
import time
from typing import Mapping, Optional

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Signature-Timestamp"
TOLERANCE_SECONDS = 300
_MAX_TIMESTAMP_DIGITS = 12  # bounds the number parsed from a header


def hmac_sha256_signature(body: bytes, secret: str, timestamp: int) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_hmac_sha256(body: bytes, secret: str, *, timestamp: Optional[int] = None,
                     signature_header: str = SIGNATURE_HEADER,
                     timestamp_header: str = TIMESTAMP_HEADER) -> dict[str, str]:
    """The headers a sender using this scheme adds to `body` (timestamp: now)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {timestamp_header: str(timestamp),
            signature_header: hmac_sha256_signature(body, secret, timestamp)}


def header(headers: Mapping[str, str], name: str) -> Optional[str]:
    """A header's value whatever the case of its name: header names are
    case-insensitive, and HTTP/2 and many proxies send them in lower case."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def verify_hmac_sha256(body: bytes, headers: Mapping[str, str], secret: Optional[str], *,
                       signature_header: str = SIGNATURE_HEADER, timestamp_header: str = TIMESTAMP_HEADER,
                       tolerance_seconds: int = TOLERANCE_SECONDS,
                       now: Optional[float] = None) -> Optional[str]:
    """None when `body` is signed with `secret` and its timestamp is within the
    tolerance of now; otherwise what is wrong, for `WebhookResult(ok=False, error=...)`."""
    if not secret:
        return "No webhook secret is configured."
    signature, stamp = header(headers, signature_header), header(headers, timestamp_header)
    if not signature:
        return f"The {signature_header} header is missing."
    if not stamp or not (stamp.isascii() and stamp.isdigit()) or len(stamp) > _MAX_TIMESTAMP_DIGITS:
        return f"The {timestamp_header} header is missing or not a time in Unix seconds."
    now = time.time() if now is None else now
    if abs(now - int(stamp)) > tolerance_seconds:
        return (f"The signature's timestamp is more than {tolerance_seconds} seconds from now "
                "(an old delivery replayed, or a clock far off).")
    if not hmac.compare_digest(signature.strip().lower(), hmac_sha256_signature(body, secret, int(stamp))):
        return "The signature does not match."
    return None


# ------------------------------------------------------------ the OMS's own deliveries
# Outbound webhooks (services/outbound_webhooks.py) carry one header, like Stripe's:
#   OMS-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">
# A receiver recomputes the HMAC with the endpoint's secret over the raw body it got,
# compares in constant time and refuses a `t` further than its tolerance from now.

OUTBOUND_SIGNATURE_HEADER = "OMS-Signature"


def outbound_signature(body: bytes, secret: str, timestamp: int) -> str:
    """The OMS-Signature header's value for `body` sent at `timestamp`."""
    return f"t={timestamp},v1={hmac_sha256_signature(body, secret, timestamp)}"


def verify_outbound(body: bytes, signature: Optional[str], secret: str, *,
                    tolerance_seconds: int = TOLERANCE_SECONDS, now: Optional[float] = None) -> Optional[str]:
    """What a receiver does with an OMS delivery: None when `signature` (the
    OMS-Signature header) signs `body` with `secret` within the tolerance, else why not.
    Several v1 entries may be present (e.g. during a secret rotation): one must match."""
    if not signature or len(signature) > 2000:
        return f"The {OUTBOUND_SIGNATURE_HEADER} header is missing."
    parts = [part.strip().partition("=") for part in signature.split(",")]
    stamps = [value for key, _, value in parts if key == "t"]
    digests = [value for key, _, value in parts if key == "v1"]
    if len(stamps) != 1 or not (stamps[0].isascii() and stamps[0].isdigit()) \
            or len(stamps[0]) > _MAX_TIMESTAMP_DIGITS:
        return "The signature has no time in Unix seconds (t=)."
    stamp = int(stamps[0])
    now = time.time() if now is None else now
    if abs(now - stamp) > tolerance_seconds:
        return f"The signature's timestamp is more than {tolerance_seconds} seconds from now."
    expected = hmac_sha256_signature(body, secret, stamp)
    if not any(hmac.compare_digest(digest.lower(), expected) for digest in digests):
        return "The signature does not match."
    return None
