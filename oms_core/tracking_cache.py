"""The public tracking page's answers, cached in Redis until their order changes
(docs/architecture.md, "The tracking page's cache").

A lookup that hits costs one round trip to Redis instead of a database query and
the page's rendering. Staleness is ruled out by a *page version* per order: a random
token that every committed change to a row the page shows (the order, its lines,
shipments, carrier events, timeline) replaces. A cached page is served only while
the version it was rendered under is still the order's.

Keys (under OMS_RATELIMIT_KEY_PREFIX + ":track:"):
  code:<code>          -> the order's id (a code never moves to another order)
  version:<order id>   -> the current version token ("0" when absent)
  page:<variant>:<code> -> "<version token>\\n<rendered page>"

The protocol, so that a page is never stored under a version newer than its data:
a reader learns the order id (from `code:`) and reads the version *before* it reads
the database, and stores the page under that version; a writer replaces the version
*after* its commit. Entries expire after OMS_TRACKING_CACHE_SECONDS, and a version
token outlives every page rendered before it (VERSION_MARGIN), so a version lost
with Redis (eviction, a crash between commit and replacement) can leave a stale
page for at most that long. A code's first lookup only learns its order id; the
second one stores the page.

Writers need not remember to invalidate: a listener on every Session's flush notes
the orders of the rows it writes, and replaces their versions after the commit.
Core statements that write such rows outside the ORM call `changed()` themselves.
"""
from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from importlib import import_module

from flask import current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from .constants import CONFIG_PREFIX, EXTENSION_KEY
from .models import Order, OrderLine, Shipment, ShipmentEvent, TimelineEvent

log = logging.getLogger("oms_core.tracking_cache")
REDIS_SCHEMES = {"redis", "rediss"}
SESSION_KEY = "oms_tracking_changed"  # in Session.info: order ids written in this transaction
VERSION_MARGIN = 60  # seconds a version outlives the pages rendered before it
NO_VERSION = "0"

# One round trip for a lookup: count it against the client's limits (fixed windows,
# as flask-limiter counts), then read the code's order id, its version and the cached
# page. KEYS: the counters, then the code's and the page's keys when a well-formed
# code is looked up. ARGV: the number of counters, each one's amount and seconds,
# then the versions' key prefix. The version's key is named from the id read here,
# so this needs a single Redis server (not Redis Cluster).
_LOOKUP = """
local counters = tonumber(ARGV[1])
for i = 1, counters do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('EXPIRE', KEYS[i], ARGV[2 * i + 1]) end
  if count > tonumber(ARGV[2 * i]) then return {'limited', redis.call('TTL', KEYS[i])} end
end
if #KEYS == counters then return {'counted'} end
local id = redis.call('GET', KEYS[counters + 1])
if not id then return {'unseen'} end
local version = redis.call('GET', ARGV[2 * counters + 2] .. id) or '""" + NO_VERSION + """'
return {'seen', id, version, redis.call('GET', KEYS[counters + 2])}
"""


class LookupLimited(Exception):
    """The client looked up more codes than its limits allow."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many lookups: try again in {retry_after} s")
        self.retry_after = max(1, retry_after)


@dataclass(frozen=True)
class Limit:
    amount: int
    seconds: int


@dataclass(frozen=True)
class Cached:
    """What Redis knows of a code: its order id and version (None: not seen yet),
    and the page if one is stored under the current version."""
    order_id: int | None
    version: str | None
    page: str | None


NOTHING = Cached(None, None, None)


class TrackingCache:
    def __init__(self, client, prefix: str, seconds: int):
        self.client, self.seconds = client, seconds
        self.prefix = f"{prefix}:track:"
        self._lookup = client.register_script(_LOOKUP)
        self._errors = import_module("redis").RedisError
        self._warned_at: dict[str, float] = {}

    def count_and_read(self, client: str, limits: tuple[Limit, ...], code: str | None,
                       variant: str) -> Cached | None:
        """Count a lookup by `client` against `limits` (LookupLimited past one of them)
        and read what is cached of `code` (None: count only). None while Redis cannot
        be reached: the caller then counts and looks up without the cache."""
        keys = [f"{self.prefix}limit:{limit.amount}/{limit.seconds}:{client}" for limit in limits]
        args = [len(limits), *(value for limit in limits for value in (limit.amount, limit.seconds)),
                self.prefix + "version:"]
        if code is not None:
            keys += [self._code_key(code), self._page_key(code, variant)]
        try:
            answer = self._lookup(keys=keys, args=args)
        except self._errors as exc:
            self._warn("count the lookup or read the tracking page cache", "", exc)
            return None
        outcome = answer[0].decode()
        if outcome == "limited":
            raise LookupLimited(int(answer[1]))
        if outcome != "seen":
            return NOTHING
        order_id, version, stored = answer[1], answer[2].decode(), (answer[3] if len(answer) > 3 else None)
        page = None
        if stored is not None:
            stored_version, _, body = stored.decode().partition("\n")
            page = body if stored_version == version else None
        return Cached(int(order_id), version, page)

    def learn(self, code: str, order_id: int) -> None:
        self._set(self._code_key(code), order_id, self.seconds + VERSION_MARGIN)

    def store(self, code: str, variant: str, version: str, page: str) -> None:
        self._set(self._page_key(code, variant), f"{version}\n{page}", self.seconds)

    def replace_versions(self, order_ids) -> None:
        """After a commit: every page cached of these orders is out of date."""
        pipe = self.client.pipeline(transaction=False)
        for order_id in order_ids:
            pipe.set(f"{self.prefix}version:{order_id}", secrets.token_hex(8),
                     ex=self.seconds + VERSION_MARGIN)
        try:
            pipe.execute()
        except self._errors as exc:  # committed already: the cached pages expire in time
            self._warn("replace the tracking page versions", f" of orders {list(order_ids)} (their cached "
                       f"pages may show the old state for up to {self.seconds + VERSION_MARGIN} s)", exc)

    def _set(self, key: str, value, seconds: int) -> None:
        try:
            self.client.set(key, value, ex=seconds)
        except self._errors as exc:
            self._warn("fill the tracking page cache", "", exc)

    def _warn(self, what: str, detail: str, exc: Exception) -> None:
        # Each once a minute at most: while Redis is down every lookup would say it again.
        now = time.monotonic()
        if now - self._warned_at.get(what, -60.0) >= 60:
            self._warned_at[what] = now
            log.warning("Could not %s%s in Redis: %s", what, detail, exc)

    def _code_key(self, code: str) -> str:
        return f"{self.prefix}code:{code}"

    def _page_key(self, code: str, variant: str) -> str:
        return f"{self.prefix}page:{variant}:{code}"


def init_app(app) -> TrackingCache | None:
    """The app's cache: on when the rate limits are counted in Redis (the store every
    worker already shares) and OMS_TRACKING_CACHE_SECONDS > 0."""
    config = app.config
    uri = config[CONFIG_PREFIX + "RATELIMIT_STORAGE_URI"]
    seconds = config[CONFIG_PREFIX + "TRACKING_CACHE_SECONDS"]
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 <= seconds <= 86_400:
        raise ValueError(f"{CONFIG_PREFIX}TRACKING_CACHE_SECONDS must be a whole number of seconds "
                         f"from 0 (off) to 86400, not {seconds!r}.")
    if seconds == 0 or uri.partition("://")[0].lower() not in REDIS_SCHEMES:
        return None
    # The rate limits' Redis storage has it installed already.
    client = import_module("redis").Redis.from_url(uri, socket_timeout=1, socket_connect_timeout=1)
    return TrackingCache(client, config[CONFIG_PREFIX + "RATELIMIT_KEY_PREFIX"], seconds)


def current() -> TrackingCache | None:
    state = current_app.extensions.get(EXTENSION_KEY) if has_app_context() else None
    return getattr(state, "tracking_cache", None)


def changed(session: Session, order_ids) -> None:
    """Orders whose tracking page a statement outside the ORM changed in this transaction."""
    session.info.setdefault(SESSION_KEY, set()).update(order_ids)


# ------------------------------------------------------------------ the listeners

_DIRECT = (Order,)
_BY_ORDER_ID = (OrderLine, Shipment, TimelineEvent)


@event.listens_for(Session, "after_flush")
def _note_flushed(session, _flush_context):
    if current() is None:
        return
    ids, shipment_ids = set(), set()
    for instance in (*session.new, *session.dirty, *session.deleted):
        if isinstance(instance, _DIRECT):
            ids.add(instance.id)
        elif isinstance(instance, _BY_ORDER_ID):
            ids.add(instance.order_id)
        elif isinstance(instance, ShipmentEvent):
            shipment_ids.add(instance.shipment_id)
    if shipment_ids:  # a carrier event names its shipment only
        ids.update(session.connection().execute(
            select(Shipment.order_id).where(Shipment.id.in_(shipment_ids))).scalars())
    ids.discard(None)
    if ids:
        changed(session, ids)


@event.listens_for(Session, "after_commit")
def _replace_versions(session):
    if session.in_nested_transaction():  # a SAVEPOINT's: the outer transaction may still roll back
        return
    ids = session.info.pop(SESSION_KEY, None)
    cache = current()
    if ids and cache is not None:
        cache.replace_versions(sorted(ids))


@event.listens_for(Session, "after_transaction_end")
def _forget(session, transaction):
    if transaction.parent is None:  # rolled back or closed: what it wrote is undone
        session.info.pop(SESSION_KEY, None)
