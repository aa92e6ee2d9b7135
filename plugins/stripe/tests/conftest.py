"""Fixtures of the Stripe plugin's tests: the local Stripe stand-in, the plugin's
settings pointed at it, and the kit's `oms_app` on SQLite and, when
OMS_TEST_POSTGRES_URL is set, on a PostgreSQL database of this run's own.

This folder is a package (tests/__init__.py) so that this conftest is imported as
`tests.conftest`: the repository's run collects tests/ and plugins/ together, and
the suite's own modules import names from their top-level `conftest`."""
from __future__ import annotations


import pytest

from oms_core.testing import postgres_test_database
from oms_stripe import GATEWAY_ID, StripeGateway
from oms_stripe.testing import FakeStripe

SECRET_KEY = "sk_test_oms_4eC39HqLyjWDarjtT1zdp7dc"
WEBHOOK_SECRET = "whsec_test_oms_1a2b3c"


@pytest.fixture
def fake():
    with FakeStripe(secret_key=SECRET_KEY, webhook_secret=WEBHOOK_SECRET) as server:
        yield server


@pytest.fixture
def gateway(fake):
    """The gateway against the stand-in, without the SDK's own retries (tests count calls)."""
    return StripeGateway(SECRET_KEY, api_base=fake.api_base, network_retries=0)


@pytest.fixture
def stripe_settings(fake) -> dict:
    return {"secret_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET, "api_base": fake.api_base,
            "network_retries": "0"}


@pytest.fixture
def oms_config(stripe_settings):
    return {"OMS_PLUGINS": {GATEWAY_ID: stripe_settings}}


@pytest.fixture(scope="session")
def stripe_postgres_url():
    """A fresh PostgreSQL database for this run, dropped at the end."""
    yield from postgres_test_database("oms_stripe_test")


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, monkeypatch):
    """Which database the kit's oms_app runs on (it reads OMS_TEST_DATABASE_URL)."""
    if request.param == "postgres":
        monkeypatch.setenv("OMS_TEST_DATABASE_URL", request.getfixturevalue("stripe_postgres_url"))
    else:
        monkeypatch.delenv("OMS_TEST_DATABASE_URL", raising=False)
    return request.param


@pytest.fixture
def oms_app(database, oms_app):
    """The kit's app, on each database in turn."""
    return oms_app
