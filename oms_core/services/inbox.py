"""The inbound inbox: every webhook delivery is kept raw before anything reads it,
then settled with its verification result and outcome (docs/architecture.md,
invariant 3).

`store` writes the delivery in a transaction of its own, so the body survives what
follows (a plugin that raises, a crash). Its events are then applied in ONE
transaction that also settles the row (`settle`): all of them or none, and the row
never says "applied" for work that was undone. An event that fits no shipment or
order yet is kept parsed (`keep_unmatched`) and applied when its tracking number or
order turns up (`unmatched_for` + `resolve`); those still waiting after
OMS_INBOX_UNMATCHED_AFTER_MINUTES are listed for staff.

The table grows by one row per delivery; nothing prunes old settled rows yet.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Mapping

from sqlalchemy import func, select

from .. import runtime
from ..db import db, write_transaction
from ..errors import NotFound, ValidationError
from ..models import InboundEvent, UnmatchedEvent
from ..models._base import utcnow
from ..protocols import GatewayEvent, GatewayRefund, TrackingUpdate
from .common import fetch
from .queries import keyset_rows

PAYMENT, CARRIER = "payment", "carrier"
# Verification results.
VERIFIED, NOT_CHECKED = "verified", "not_checked"
# Outcomes (REFUSED is a verification result too: the plugin refused the signature).
RECEIVED, APPLIED, DUPLICATE, UNMATCHED, REFUSED, ERROR = InboundEvent.OUTCOMES
FLAGGED = "flagged"  # how an event was resolved: a payment kept for a human

MAX_BODY_BYTES = 1024 * 1024
# Headers that carry credentials (a sender's token, a proxy's cookie): their values
# are not kept. Signatures are kept: they are made with the secret, not the secret.
CREDENTIAL_HEADER_WORDS = ("authorization", "cookie", "token", "secret", "password", "api-key", "apikey",
                           "session")
NOT_KEPT = "(not kept)"
MAX_HEADERS, MAX_HEADER_CHARS = 100, 2000


def stored_headers(headers: Mapping[str, str]) -> dict:
    """What is kept of the request's headers: names and values, bounded, without credentials."""
    kept: dict = {}
    for name, value in list(headers.items())[:MAX_HEADERS]:
        name = str(name)[:200]
        secret = any(word in name.lower() for word in CREDENTIAL_HEADER_WORDS)
        kept[name] = NOT_KEPT if secret else str(value)[:MAX_HEADER_CHARS]
    return kept


def store(source: str, plugin_id: str, body: bytes, headers: Mapping[str, str]) -> int:
    """Keep a delivery as received, committed at once; returns its id."""
    if len(body) > MAX_BODY_BYTES:
        raise ValidationError(f"A webhook body may have at most {MAX_BODY_BYTES} bytes.")
    with write_transaction():
        row = InboundEvent(source=source, plugin_id=plugin_id, body=bytes(body),
                           headers=stored_headers(headers), verification=NOT_CHECKED, outcome=RECEIVED,
                           reason="")
        db.session.add(row)
        db.session.flush()
        return row.id


def lock(inbound_id: int) -> InboundEvent:
    """The row, locked for change in the caller's write transaction."""
    return fetch(InboundEvent, inbound_id, "inbound delivery", with_for_update=True, populate_existing=True)


def close(inbound_id: int, *, outcome: str, reason: str, verification: str = NOT_CHECKED) -> None:
    """Settle a delivery whose events were not applied (refused, or an error), in a
    transaction of its own: the caller's was rolled back."""
    with write_transaction():
        row = lock(inbound_id)
        row.outcome, row.verification, row.reason = outcome, verification, reason[:4000]
        row.settled_at = utcnow()


@dataclass
class Tally:
    """What became of the events of one delivery."""

    received: int = 0
    applied: int = 0
    duplicate: int = 0
    unmatched: int = 0
    flagged: int = 0  # payments kept for a human: applied, but not counted as paid
    reasons: list[str] = dataclasses.field(default_factory=list)  # why events are unmatched


def settle(row: InboundEvent, tally: Tally) -> None:
    """Record what the delivery's events did, in the transaction that applied them."""
    row.verification = VERIFIED
    row.events_received, row.events_applied = tally.received, tally.applied
    row.events_duplicate, row.events_unmatched = tally.duplicate, tally.unmatched
    row.events_flagged = tally.flagged
    row.reason = "; ".join(dict.fromkeys(tally.reasons))[:4000]
    row.outcome = _outcome(row)
    row.settled_at = utcnow()


def _outcome(row: InboundEvent) -> str:
    if row.events_unmatched:
        return UNMATCHED
    if row.events_duplicate and not (row.events_applied or row.events_flagged):
        return DUPLICATE
    return APPLIED  # also a delivery without events (a sender's test ping)


# ------------------------------------------------------------------ unmatched events


def keep_unmatched(row: InboundEvent, *, match_key: str, dedupe_key: str, event, reason: str) -> bool:
    """Keep an event that fits nothing yet. False when the same event is waiting
    already (the sender retried): it is a duplicate then."""
    waiting = db.session.scalar(select(UnmatchedEvent.id).where(
        UnmatchedEvent.source == row.source, UnmatchedEvent.plugin_id == row.plugin_id,
        UnmatchedEvent.match_key == match_key, UnmatchedEvent.dedupe_key == dedupe_key))
    if waiting is not None:
        return False
    db.session.add(UnmatchedEvent(inbound=row, source=row.source, plugin_id=row.plugin_id,
                                  match_key=match_key, dedupe_key=dedupe_key, event=event_fields(event),
                                  reason=reason))
    db.session.flush()
    return True


def unmatched_for(source: str, plugin_id: str, match_key: str) -> list[UnmatchedEvent]:
    """The events waiting for one tracking number (or order id), oldest first."""
    return list(db.session.scalars(select(UnmatchedEvent).where(
        UnmatchedEvent.source == source, UnmatchedEvent.plugin_id == plugin_id,
        UnmatchedEvent.match_key == match_key).order_by(UnmatchedEvent.id)))


def waiting_keys(source: str, limit: int = 500) -> list[tuple[str, str]]:
    """(plugin id, match key) pairs that have events waiting, for a periodic re-match."""
    return [tuple(row) for row in db.session.execute(
        select(UnmatchedEvent.plugin_id, UnmatchedEvent.match_key).where(UnmatchedEvent.source == source)
        .group_by(UnmatchedEvent.plugin_id, UnmatchedEvent.match_key)
        .order_by(func.min(UnmatchedEvent.id)).limit(limit))]


def resolve(waiting: UnmatchedEvent, outcome: str) -> None:
    """A waiting event found its match and was applied (APPLIED), was there already
    (DUPLICATE) or was kept for a human (a payment that does not fit: FLAGGED).
    Caller's transaction."""
    row = lock(waiting.inbound_id)
    row.events_unmatched -= 1
    if outcome == DUPLICATE:
        row.events_duplicate += 1
    elif outcome == FLAGGED:
        row.events_flagged += 1
    else:
        row.events_applied += 1
    row.outcome = _outcome(row)
    if row.outcome != UNMATCHED:
        row.reason = ""
    db.session.delete(waiting)


def event_fields(event) -> dict:
    """A parsed event (TrackingUpdate, GatewayEvent) as JSON-safe fields."""
    return {name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in dataclasses.asdict(event).items()}


def tracking_update(waiting: UnmatchedEvent) -> TrackingUpdate:
    fields = dict(waiting.event)
    fields["occurred_at"] = datetime.fromisoformat(fields["occurred_at"])
    return TrackingUpdate(**fields)


def gateway_event(waiting: UnmatchedEvent) -> GatewayEvent:
    fields = dict(waiting.event)
    fields["refunds"] = tuple(GatewayRefund(**refund) for refund in fields.get("refunds") or ())
    if fields.get("occurred_at"):
        fields["occurred_at"] = datetime.fromisoformat(fields["occurred_at"])
    return GatewayEvent(**fields)


# ------------------------------------------------------------------ for staff


def unmatched_after() -> timedelta:
    minutes = runtime.setting("INBOX_UNMATCHED_AFTER_MINUTES")
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 0 <= minutes <= 60 * 24 * 365:
        raise ValueError(f"OMS_INBOX_UNMATCHED_AFTER_MINUTES must be a whole number of minutes "
                         f"from 0 to 525600, not {minutes!r}.")
    return timedelta(minutes=minutes)


# Lists staff can open: name -> (title, condition).
LISTS = {
    "waiting": "Unmatched for too long",
    "unmatched": "Unmatched (all)",
    "refused": "Refused",
    "error": "Failed (kept, sender retries)",
    "received": "Not settled (the process stopped)",
    "all": "All deliveries",
}


def _clause(name: str):
    if name == "waiting":
        return (InboundEvent.outcome == UNMATCHED) & (InboundEvent.received_at < utcnow() - unmatched_after())
    if name == "all":
        return InboundEvent.id > 0
    if name in (UNMATCHED, REFUSED, ERROR, RECEIVED):
        return InboundEvent.outcome == name
    raise NotFound(f"No list '{name}'.")


def waiting_count() -> int:
    """Deliveries with events still unmatched after the configured time: the dashboard's count."""
    return db.session.scalar(select(func.count(InboundEvent.id)).where(_clause("waiting"))) or 0


@dataclass
class InboundPage:
    rows: list[InboundEvent]
    next_before: int | None  # pass as `before` for the next (older) page
    unmatched_after: timedelta  # how long events wait before "waiting" lists them


def inbound_page(name: str, *, before: int | None = None, limit: int = 50) -> InboundPage:
    """One page of a list, newest first (keyset on id, no count of all rows)."""
    rows, next_before = keyset_rows(select(InboundEvent).where(_clause(name)), InboundEvent.id, before=before,
                                    limit=limit)
    return InboundPage(rows=rows, next_before=next_before, unmatched_after=unmatched_after())


@dataclass
class InboundDetail:
    row: InboundEvent
    body_text: str  # the body as text (undecodable bytes replaced), cut at `shown_bytes`
    shown_bytes: int
    waiting: list[UnmatchedEvent]


def inbound_detail(inbound_id: int, *, show_bytes: int = 64 * 1024) -> InboundDetail:
    row = fetch(InboundEvent, inbound_id, "inbound delivery")
    shown = row.body[:show_bytes]
    return InboundDetail(row=row, body_text=shown.decode("utf-8", errors="replace"), shown_bytes=len(shown),
                         waiting=list(row.unmatched))
