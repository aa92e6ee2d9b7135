"""The app a worker subprocess runs in tests that kill it mid-send (`flask --app
outbox_worker_app:create_app oms worker`): the test's database and SMTP sink, a
short lease renewed by the heartbeat, from the environment."""
import os

from oms_core.testing import make_app


def create_app():
    return make_app(os.environ["OMS_TEST_DATABASE_URL"], upgrade=False, OMS_SMTP_HOST="127.0.0.1",
                    OMS_SMTP_PORT=int(os.environ["OMS_TEST_SMTP_PORT"]),
                    OMS_OUTBOX_LEASE_SECONDS=int(os.environ["OMS_TEST_LEASE_SECONDS"]),
                    OMS_OUTBOX_HEARTBEAT_SECONDS=1, OMS_OUTBOX_BACKOFF_SECONDS=1)
