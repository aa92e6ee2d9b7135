"""The transactional outbox (docs/architecture.md, invariant 7).

`enqueue` writes a message in the caller's transaction, so it exists if and only if
the state change does. Workers claim due messages with a lease (PostgreSQL: FOR
UPDATE SKIP LOCKED, so several workers share the queue; SQLite: BEGIN IMMEDIATE),
send them outside any transaction, then mark them sent. A failure is retried with
exponential backoff; after the last attempt the message is dead and shown to staff.
A worker that dies mid-send leaves a lease that expires, and another worker
retries with the same idempotency key. The lease is short (OMS_OUTBOX_LEASE_SECONDS)
and a heartbeat thread renews it every OMS_OUTBOX_HEARTBEAT_SECONDS while its
worker still holds the batch, so a slow SMTP server or carrier keeps its messages
with their worker while a dead worker's messages go out again within one lease.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from typing import Callable, Iterator

from sqlalchemy import insert, or_, select, update

from flask import current_app

from .. import limits, runtime
from ..db import db, execute_core, is_postgres, write_transaction
from ..errors import NotFound
from ..models import OutboxMessage
from ..models._base import utcnow

log = logging.getLogger(__name__)
MAX_BACKOFF = timedelta(hours=6)

# Messages still to send, or given up on after the last attempt (staff may retry them).
UNSENT = ("pending", "dead")

# kind -> function(message) that performs the side effect or raises.
_HANDLERS: dict[str, Callable[[OutboxMessage], None]] = {}


class SendError(Exception):
    """A handler's expected failure (server down, timed out): retried later."""


class Refused(SendError):
    """The other side said no for good (a carrier refusing a booking): the message
    is dead at once, not retried; its handler recorded why where staff see it."""


def handler(kind: str):
    def register(fn):
        _HANDLERS[kind] = fn
        return fn
    return register


def enqueue(kind: str, payload: dict, *, key: str, order_id: int | None = None) -> OutboxMessage:
    """Add a message in the caller's write transaction."""
    message = OutboxMessage(kind=kind, payload=payload, idempotency_key=key, order_id=order_id,
                            max_attempts=runtime.setting("OUTBOX_MAX_ATTEMPTS"),
                            next_attempt_at=utcnow())
    db.session.add(message)
    return message


_INSERT_MESSAGE = insert(OutboxMessage.__table__)


def enqueue_new(kind: str, payload: dict, *, key: str, order_id: int | None = None) -> None:
    """`enqueue` for a key no message can hold yet (made from a tracking code drawn in
    this transaction): one Core INSERT, without the unit of work's bookkeeping, for
    the checkout's hot path. Caller's write transaction."""
    execute_core(_INSERT_MESSAGE, dict(kind=kind, payload=payload, idempotency_key=key, order_id=order_id,
                                       max_attempts=runtime.setting("OUTBOX_MAX_ATTEMPTS"),
                                       next_attempt_at=utcnow()))


def enqueue_once(kind: str, payload: dict, *, key: str, order_id: int | None = None) -> OutboxMessage:
    """`enqueue`, unless a message with this key exists already (a capture decided
    twice, an email for a status the order reaches again): that one stands."""
    db.session.flush()
    existing = db.session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
    return existing if existing is not None else enqueue(kind, payload, key=key, order_id=order_id)


def withdraw(key: str) -> None:
    """Stop a message that is no longer wanted (a booking staff cancelled), in the
    caller's transaction: nobody sends or retries it again, and a worker sending it
    right now leaves it cancelled when it finishes."""
    db.session.execute(update(OutboxMessage)
                       .where(OutboxMessage.idempotency_key == key, OutboxMessage.status.in_(UNSENT))
                       .values(status="cancelled"))


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after `attempts` failures: base * 2^(attempts-1)."""
    base = timedelta(seconds=runtime.setting("OUTBOX_BACKOFF_SECONDS"))
    return min(base * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def claim(limit: int = 20) -> list[int]:
    """Lease up to `limit` due messages to this worker; returns their ids."""
    return _claim(limit)[0]


def _lease() -> timedelta:
    return timedelta(seconds=runtime.whole_setting("OUTBOX_LEASE_SECONDS", 1, 24 * 3600))


def _claim(limit: int):
    """(ids, the lease's end written on them): that exact time is the worker's token
    for renewing the lease, so it never renews one another worker has taken since."""
    now = utcnow()
    lease = _lease()
    with write_transaction():
        query = (select(OutboxMessage.id)
                 .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now,
                        or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now))
                 .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit))
        if is_postgres():
            query = query.with_for_update(skip_locked=True)
        ids = list(db.session.scalars(query))
        if ids:
            db.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                               .values(locked_until=now + lease)
                               .execution_options(synchronize_session=False))
    return ids, now + lease


def renew(ids, until):
    """Extend the lease on those of `ids` still pending and still leased until
    `until` (this worker's), to a lease from now; returns the new end."""
    renewed = utcnow() + _lease()
    with write_transaction():
        db.session.execute(update(OutboxMessage)
                           .where(OutboxMessage.id.in_(list(ids)), OutboxMessage.status == "pending",
                                  OutboxMessage.locked_until == until)
                           .values(locked_until=renewed)
                           .execution_options(synchronize_session=False))
    return renewed


@contextmanager
def _heartbeat(ids: list[int], until) -> Iterator[set[int]]:
    """Renew the lease on the messages this worker still holds (the set yielded:
    discard an id once it is finished) every OMS_OUTBOX_HEARTBEAT_SECONDS, at most
    half the lease, from a thread with its own session, until the block ends."""
    held = set(ids)
    every = min(runtime.whole_setting("OUTBOX_HEARTBEAT_SECONDS", 1, 3600), _lease().total_seconds() / 2)
    app = current_app._get_current_object()
    stop = threading.Event()

    def beat():
        lease_end = until
        while not stop.wait(every):
            with app.app_context():
                try:
                    still = set(held)
                    if still:
                        lease_end = renew(still, lease_end)
                except Exception:  # a missed beat costs at most a resend; keep beating
                    log.exception("outbox: renewing leases failed")
                finally:
                    db.session.remove()

    thread = threading.Thread(target=beat, name="outbox-heartbeat", daemon=True)
    thread.start()
    try:
        yield held
    finally:
        stop.set()
        thread.join()


def _finish(message_id: int, error: str | None, *, final: bool = False) -> None:
    with write_transaction():
        message = db.session.get(OutboxMessage, message_id, with_for_update=True, populate_existing=True)
        if message.status != "pending":
            return  # a worker whose lease ran out: another one has finished it already
        message.locked_until = None
        message.attempts += 1
        if error is None:
            message.status, message.sent_at, message.last_error = "sent", utcnow(), ""
            return
        message.last_error = error[:2000]
        if final or message.attempts >= message.max_attempts:
            message.status = "dead"
            from . import alerts  # here: alerts sends its emails through this module

            alerts.message_dead(message)
        else:
            message.next_attempt_at = utcnow() + backoff(message.attempts)


def send_one(message_id: int) -> bool | None:
    """Perform one claimed message. Returns True when this call sent it, False when
    it failed, None when it was no longer waiting (a worker whose lease ran out
    finds it sent by another)."""
    message = db.session.get(OutboxMessage, message_id, populate_existing=True)
    if message is None or message.status != "pending":
        db.session.commit()
        return None
    # Detach it with its columns loaded, then end the read: no transaction stays open
    # while the handler talks to the outside (reading an expired attribute would
    # silently open one, idle for as long as the SMTP server or carrier takes).
    db.session.expunge(message)
    db.session.commit()
    fn = _HANDLERS.get(message.kind)
    final = False
    try:
        if fn is None:
            raise SendError(f"No handler for outbox messages of kind '{message.kind}'.")
        fn(message)
    except SendError as exc:
        error, final = str(exc) or exc.__class__.__name__, isinstance(exc, Refused)
    except Exception as exc:  # a handler bug must not stop the worker; keep it visible
        log.exception("outbox message %s failed", message_id)
        error = f"{exc.__class__.__name__}: {exc}"
    else:
        error = None
    _finish(message_id, error, final=final)
    return error is None


def run_once(limit: int = 20) -> tuple[int, int]:
    """Claim and send one batch. Returns (sent, failed)."""
    sent = failed = 0
    ids, until = _claim(limit)
    if not ids:
        return 0, 0
    with _heartbeat(ids, until) as held:
        for message_id in ids:
            outcome = send_one(message_id)
            held.discard(message_id)
            if outcome is True:
                sent += 1
            elif outcome is False:
                failed += 1
    return sent, failed


def run_worker(*, poll_seconds: float = 2.0, stop: Callable[[], bool] = lambda: False,
               echo: Callable[[str], None] = log.info, each_round: Callable[[], None] = lambda: None) -> None:
    """Loop until `stop()` is true: send what is due, sleep when idle. `each_round`
    runs other scheduled work (the forecast) between rounds."""
    me = f"{socket.gethostname()}:{os.getpid()}"
    echo(f"outbox worker {me} started")
    while not stop():
        each_round()
        sent, failed = run_once()
        if sent or failed:
            echo(f"outbox: {sent} sent, {failed} failed")
        else:
            time.sleep(poll_seconds)


def retry_now(message_id: int) -> OutboxMessage:
    """Staff: try a failed or dead message again at once."""
    if not limits.is_id(message_id):
        raise NotFound("No such outbox message.")
    with write_transaction():
        message = db.session.get(OutboxMessage, message_id, with_for_update=True, populate_existing=True)
        if message is None:
            raise NotFound(f"No outbox message {message_id}.")
        if message.status in UNSENT:
            message.status = "pending"
            message.next_attempt_at = utcnow()
            if message.locked_until is not None and message.locked_until < utcnow():
                message.locked_until = None  # a live lease stays: a worker is sending it now
            if message.attempts >= message.max_attempts:
                message.max_attempts = message.attempts + 1
    return message


def problems(limit: int = 50) -> list[OutboxMessage]:
    """Messages that failed at least once and are not sent: for the dashboard."""
    return list(db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.status.in_(UNSENT), OutboxMessage.attempts > 0)
        .order_by(OutboxMessage.id.desc()).limit(limit)))
