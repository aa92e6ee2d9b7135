"""Rate limits (flask-limiter) and the storage that keeps their counts.

The default storage, `memory://`, counts in each process's own memory. Under a
server with several worker processes (gunicorn -w 4) every worker counts apart, so
a client gets up to that many times the configured lookups. Such a server marks
its requests `wsgi.multiprocess`: the first one a process serves logs an ERROR
and owners see a warning on the Plugins page and the dashboard. Warn rather than
refuse by default, because refusing would take the whole shop offline over a limit
that still holds per worker; OMS_RATELIMIT_REQUIRE_SHARED makes the app refuse to
start on process-local storage instead (for production settings). While shared
storage cannot be reached, the limits are counted in process memory and the Plugins
page says the storage is not reachable.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from functools import partial

from flask import Flask, request
from flask.globals import request_ctx
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from oms_core import runtime
from oms_core.constants import CONFIG_PREFIX

log = logging.getLogger("oms_web.ratelimit")
PROCESS_LOCAL_SCHEMES = {"memory"}  # every other limits storage (redis, memcached, ...) is shared
SHARED_EXAMPLE = "redis://127.0.0.1:6379"


def describe_storage(uri: str) -> str:
    """Scheme and host(s) of a storage URI, never its credentials, database or options:
    "redis://:secret@cache:6379/0" -> "redis://cache:6379"."""
    scheme, _, rest = uri.partition("://")
    hosts = rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]
    return f"{scheme}://{hosts}"


def storage_scheme(uri: str) -> str:
    return uri.partition("://")[0].lower()


@dataclass
class RateLimitStorage:
    """What the back-office shows about the counts' storage, and whether this process
    has been seen serving under a multi-process server."""
    description: str
    shared: bool
    multiprocess: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_uri(cls, uri: str) -> "RateLimitStorage":
        return cls(description=describe_storage(uri), shared=storage_scheme(uri) not in PROCESS_LOCAL_SCHEMES)

    @property
    def undercounts(self) -> bool:
        """Each worker process keeps its own counts: the limits are multiplied by their number."""
        return self.multiprocess and not self.shared

    def note_request(self, environ) -> None:
        if self.multiprocess or not environ.get("wsgi.multiprocess"):
            return
        with self._lock:
            if self.multiprocess:
                return
            self.multiprocess = True
        if not self.shared:
            log.error("Rate limits are counted in process memory (%sRATELIMIT_STORAGE_URI=%s) under a "
                      "server with several worker processes: each worker counts apart, so clients get "
                      "the tracking and log-in limits once per worker. Set %sRATELIMIT_STORAGE_URI to "
                      "shared storage, e.g. %s.", CONFIG_PREFIX, self.description, CONFIG_PREFIX,
                      SHARED_EXAMPLE)


def init_limiter(app: Flask) -> tuple[Limiter, RateLimitStorage]:
    config = app.config
    uri = config[CONFIG_PREFIX + "RATELIMIT_STORAGE_URI"]
    storage = RateLimitStorage.from_uri(uri)
    if config[CONFIG_PREFIX + "RATELIMIT_REQUIRE_SHARED"] and not storage.shared:
        raise RuntimeError(
            f"{CONFIG_PREFIX}RATELIMIT_REQUIRE_SHARED is set but {CONFIG_PREFIX}RATELIMIT_STORAGE_URI "
            f"is {storage.description}, which each process counts apart. Set it to shared storage, "
            f"e.g. {SHARED_EXAMPLE}.")
    # While shared storage is down, count in process memory rather than answer 500 to
    # every log-in and tracking lookup; flask-limiter switches back when it answers again.
    # Keyed on the client's address: behind a reverse proxy, wrap the app in werkzeug's
    # ProxyFix so that it is the client's, not the proxy's (README). flask-limiter's
    # X-RateLimit headers are off: on every answer they cost two more round trips to
    # the storage than counting the hit (a third of a tracking page's time, issue 12);
    # a 429 still says when to try again (Retry-After, below).
    limiter = Limiter(get_remote_address, app=app, storage_uri=uri, default_limits=[],
                      key_prefix=config[CONFIG_PREFIX + "RATELIMIT_KEY_PREFIX"],
                      in_memory_fallback_enabled=True, headers_enabled=False)
    _limiter_hooks_only_when_needed(app, limiter)

    @app.before_request
    def _note_server_kind():  # observes only: no request of the host app behaves differently
        storage.note_request(request.environ)

    @app.after_request
    def _retry_after(response):
        limit = limiter.current_limit if response.status_code == 429 else None
        if limit is not None and "Retry-After" not in response.headers:
            wait = min(math.ceil(limit.reset_at - time.time()), limit.limit.get_expiry())  # within one window
            response.headers["Retry-After"] = str(max(1, wait))
        return response

    return limiter, storage


def _limiter_hooks_only_when_needed(app: Flask, limiter: Limiter) -> None:
    """flask-limiter hooks into every request of the app. Before it, to look up its
    limits, though only app-wide ones (a host's RATELIMIT_DEFAULT or _APPLICATION,
    meta, in-memory fallback or blueprint limits) are checked there: the OMS's limits
    decorate their views, which count in the view itself. After it and at its
    teardown, to settle and reset what a check of this request noted. Without
    app-wide limits, and on requests that checked none, they found nothing at ~0.06 ms
    of CPU per request, a third of hello-world's (issue 12, docs/architecture.md
    Performance), so they run only when needed. They use flask-limiter's internals
    (4.x): tests/test_security.py checks a host's limits still count."""
    before = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit not in before:  # RATELIMIT_ENABLED=False: no hooks
        return
    manager = limiter.limit_manager

    def app_wide_limits():
        if (manager._application_limits or manager._default_limits or manager._blueprint_limits
                or limiter._meta_limits or limiter._in_memory_fallback):
            limiter._check_request_limit()

    def checked() -> bool:  # a check keeps what it noted on the request context
        return hasattr(request_ctx._get_current_object(), "_limiter_request_context")

    before[before.index(limiter._check_request_limit)] = app_wide_limits
    after = app.after_request_funcs[None]
    (settle,) = [hook for hook in after if isinstance(hook, partial) and hook.args == (limiter,)]
    after[after.index(settle)] = lambda response: settle(response) if checked() else response
    teardown = app.teardown_request_funcs[None]
    (reset,) = [hook for hook in teardown if getattr(hook, "__self__", None) is limiter]
    teardown[teardown.index(reset)] = lambda error=None: reset(error) if checked() else None


@dataclass(frozen=True)
class RateLimitOverview:
    """The Plugins page's view of the rate limits (owners only)."""
    storage: RateLimitStorage
    reachable: bool
    limits: tuple[tuple[str, str], ...]  # (what is limited, flask-limiter limit string)


def current_storage() -> RateLimitStorage:
    return runtime.state().rate_limit_storage


def overview() -> RateLimitOverview:
    state = runtime.state()
    try:
        reachable = bool(state.limiter.storage.check())
    except Exception:  # a storage that cannot be reached raises rather than answer False
        reachable = False
    return RateLimitOverview(storage=state.rate_limit_storage, reachable=reachable, limits=(
        ("Tracking page lookups per client", runtime.setting("TRACKING_RATE_LIMIT")),
        ("Back-office log-in attempts per client", runtime.setting("LOGIN_RATE_LIMIT"))))
