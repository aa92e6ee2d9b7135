"""Where rate limits are counted: process memory (the default) multiplies the limits
by the number of worker processes, so that case is reported loudly (an ERROR per
process, a warning for owners) or refused (OMS_RATELIMIT_REQUIRE_SHARED); Redis
keeps one count across workers. The multi-process cases run a real gunicorn."""
from __future__ import annotations

import http.client
import logging
import re
import time
import uuid
from collections import Counter

import pytest
import redis
import requests
from conftest import CSRF_META, skip_or_fail
from gunicorn_server import demo_under_gunicorn
from oms_web.ratelimit import describe_storage

from oms_core.testing import make_app

REDIS_URL = "redis://127.0.0.1:6379"
WARNING = 'id="rate-limit-warning"'
LOG_ERROR = "Rate limits are counted in process memory"
LIMIT = 5
ROUNDS = 8  # lookups per worker, more than LIMIT
WORKERS = 2


@pytest.fixture
def redis_prefix():
    """A key prefix of this test's own on the local Redis, its keys deleted afterwards."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        skip_or_fail(f"Redis is needed on {REDIS_URL}: {exc}")
    prefix = f"oms-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    for key in client.scan_iter(f"*{prefix}*"):
        client.delete(key)
    client.close()


@pytest.mark.parametrize("uri, shown", [
    ("memory://", "memory://"),
    ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
    ("redis://:s3cret@cache.internal:6380/2", "redis://cache.internal:6380"),
    ("rediss://user:s3cret@cache.internal/0?ssl_cert_reqs=none", "rediss://cache.internal"),
    ("redis+sentinel://:s3cret@host-a:26379,host-b:26379/mymaster",
     "redis+sentinel://host-a:26379,host-b:26379"),
    ("memcached://host-a:11211,host-b:11211", "memcached://host-a:11211,host-b:11211"),
    ("redis://127.0.0.1:6379/0?password=s3cret", "redis://127.0.0.1:6379"),
])
def test_the_storage_is_described_by_scheme_and_host_only(uri, shown):
    assert describe_storage(uri) == shown


def test_requiring_shared_storage_refuses_to_start_on_process_memory(database_url, redis_prefix):
    refused = "OMS_RATELIMIT_REQUIRE_SHARED is set but OMS_RATELIMIT_STORAGE_URI is memory://"
    with pytest.raises(RuntimeError, match=refused):
        make_app(database_url, upgrade=False, OMS_RATELIMIT_REQUIRE_SHARED=True)
    make_app(database_url, upgrade=False, OMS_RATELIMIT_REQUIRE_SHARED=True,
             OMS_RATELIMIT_STORAGE_URI=REDIS_URL, OMS_RATELIMIT_KEY_PREFIX=redis_prefix)


@pytest.mark.parametrize("app_config", [{"OMS_RATELIMIT_STORAGE_URI": "redis://:s3cret@127.0.0.1:1/0"}])
def test_the_plugins_page_shows_the_storage_without_its_password(owner_client, app_config):
    page = owner_client.get("/oms/admin/plugins").get_data(as_text=True)
    assert re.search(r'id="rate-limit-storage">redis://127.0.0.1:1<', page)
    assert "s3cret" not in page
    assert re.search(r'id="rate-limit-scope">shared by all worker processes<', page)
    assert re.search(r'id="rate-limit-reachable">no<', page)  # nothing listens on port 1
    assert re.search(r'id="rate-limit-unreachable"', page)  # and log-in still worked, counted in memory
    assert "30 per minute;300 per hour" in page  # the tracking page's limit


@pytest.mark.parametrize("app_config", [{"OMS_RATELIMIT_STORAGE_URI": REDIS_URL}])
def test_a_reachable_redis_is_shown_reachable(owner_client, app_config):
    page = owner_client.get("/oms/admin/plugins").get_data(as_text=True)
    assert re.search(r'id="rate-limit-reachable">yes<', page) and WARNING not in page


def test_process_memory_is_reported_once_a_multi_process_server_is_seen(owner_client, caplog):
    single = owner_client.get("/oms/admin/plugins").get_data(as_text=True)
    assert 'id="rate-limit-storage">memory://<' in single and WARNING not in single
    assert not [r for r in caplog.records if LOG_ERROR in r.getMessage()]

    multi = {"wsgi.multiprocess": True}
    with caplog.at_level(logging.ERROR, logger="oms_web.ratelimit"):
        for page in ("/oms/admin/plugins", "/oms/admin/"):
            assert WARNING in owner_client.get(page, environ_overrides=multi).get_data(as_text=True)
    assert [r.levelno for r in caplog.records if LOG_ERROR in r.getMessage()] == [logging.ERROR]


def test_staff_are_not_shown_the_storage_warning(staff_client):
    multi = {"wsgi.multiprocess": True}
    page = staff_client.get("/oms/admin/", environ_overrides=multi).get_data(as_text=True)
    assert "Needs attention" in page and WARNING not in page  # owners change the settings, staff cannot


def _owner_session(base_url: str) -> requests.Session:
    session = requests.Session()
    token = CSRF_META.search(session.get(f"{base_url}/oms/admin/login").text).group(1)
    response = session.post(f"{base_url}/oms/admin/login", allow_redirects=False, data={
        "email": "owner@example.com", "password": "owner-password", "csrf_token": token})
    assert response.status_code == 302
    return session


def _lookups_on_every_worker(server, workers: int) -> list[int]:
    """ROUNDS x `workers` tracking lookups. In each round every worker holds one open
    connection before any request is sent: a sync worker that has accepted a connection
    waits for its request, so the next connection goes to another worker."""
    host, port = server.base_url.removeprefix("http://").split(":")
    statuses = []
    for round_ in range(ROUNDS):
        connections = [http.client.HTTPConnection(host, int(port), timeout=30) for _ in range(workers)]
        for connection in connections:
            connection.connect()
        time.sleep(0.2)  # each worker accepts one of them
        for number, connection in enumerate(connections):
            connection.request("GET", f"/track?code=NOPE-{round_}-{number}")
        statuses += [connection.getresponse().status for connection in connections]
        for connection in connections:
            connection.close()
    return statuses


def test_under_gunicorn_process_memory_multiplies_the_limit_and_says_so(database_url, owner_user, tmp_path):
    config = {"OMS_TRACKING_RATE_LIMIT": f"{LIMIT} per minute"}
    with demo_under_gunicorn(database_url, tmp_path, workers=WORKERS, **config) as server:
        statuses = _lookups_on_every_worker(server, WORKERS)
        page = _owner_session(server.base_url).get(f"{server.base_url}/oms/admin/plugins").text
        served = Counter(pid for pid, _ in server.worker_statuses("/track"))
    assert WARNING in page and 'id="rate-limit-storage">memory://<' in page
    assert server.log.read_text().count(LOG_ERROR) >= 1
    assert len(served) == WORKERS  # each worker took lookups and counted its own:
    assert statuses.count(200) == sum(min(count, LIMIT) for count in served.values()) > LIMIT


def test_under_gunicorn_redis_holds_the_limit_across_workers(database_url, owner_user, tmp_path,
                                                             redis_prefix):
    config = {"OMS_TRACKING_RATE_LIMIT": f"{LIMIT} per minute", "OMS_RATELIMIT_STORAGE_URI": REDIS_URL,
              "OMS_RATELIMIT_KEY_PREFIX": redis_prefix, "OMS_RATELIMIT_REQUIRE_SHARED": "true"}
    with demo_under_gunicorn(database_url, tmp_path, workers=WORKERS, **config) as server:
        statuses = _lookups_on_every_worker(server, WORKERS)
        page = _owner_session(server.base_url).get(f"{server.base_url}/oms/admin/plugins").text
        served = Counter(pid for pid, _ in server.worker_statuses("/track"))
    # Counted per worker, the lookups let through would be the sum of min(served, LIMIT): more.
    assert len(served) == WORKERS
    assert statuses.count(200) == LIMIT and statuses.count(429) == len(statuses) - LIMIT
    assert WARNING not in page and 'id="rate-limit-storage">redis://127.0.0.1:6379<' in page
    assert LOG_ERROR not in server.log.read_text()
