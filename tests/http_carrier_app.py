"""The app a worker subprocess runs in tests that kill it (`flask --app
http_carrier_app:create_app oms worker`): the test's database and the local HTTP
carrier (oms_core/testing/carrier_server.py), from the environment."""
import os

from oms_core.testing import make_app
from oms_core.testing.carrier_server import HttpCarrier
from oms_core.testing.fakes import plugin_registering


def create_app():
    carrier = HttpCarrier(os.environ["OMS_TEST_CARRIER_URL"])
    return make_app(os.environ["OMS_TEST_DATABASE_URL"], upgrade=False, extra_plugins=[plugin_registering(carrier)],
                    OMS_OUTBOX_LEASE_SECONDS=2, OMS_OUTBOX_BACKOFF_SECONDS=1)
