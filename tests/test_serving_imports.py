"""Serving the shop, the back-office and the tracking page imports no heavy library.

Every web worker loads every plugin; a forecaster that imported scikit-learn at load
cost each worker about 100 MB and a second of start-up. The pages are served in a
fresh interpreter (this one has imported everything already), with the scikit-learn
forecaster installed and enabled, and the Stripe gateway installed and configured
(its SDK is loaded only when it calls Stripe); only running a forecast may import
scikit-learn. A karrio carrier is configured too (plugins/karrio): listing it, its
services and capabilities must not import the karrio SDK; only booking, rating,
voiding and tracking do.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from oms_demo.startup import prepare

from oms_core.testing import dispose

PROBE = Path(__file__).with_name("serving_probe.py")
ALL_PAGES_OK = 200, 302
# It sorts before the manual carrier: the shipment form shows its services first.
KARRIO_CARRIERS = json.dumps({"karrio_ups": {"carrier_name": "ups", "label": "UPS", "client_id": "id",
                                             "client_secret": "secret", "test_mode": True}})


@pytest.fixture
def demo_shop(database_url, tmp_path):
    # The baseline's forecast: the pages then have a run to show, made without scikit-learn.
    site = prepare(database_url=database_url, data_dir=tmp_path, history_days=150,
                   OMS_FORECASTER="seasonal_naive")
    dispose(site.app)
    return site


def probe(site, *args, **environ) -> dict:
    env = {**os.environ, "OMS_FORECASTER": "sklearn_global", "OMS_PLUGIN_STRIPE_SECRET_KEY": "sk_test_probe",
           "OMS_PLUGIN_STRIPE_WEBHOOK_SECRET": "whsec_probe", "OMS_PLUGIN_KARRIO_CARRIERS": KARRIO_CARRIERS,
           **environ}
    env.pop("OMS_DISABLED_PLUGINS", None)
    done = subprocess.run([sys.executable, str(PROBE), site.database_url, str(site.data_dir), *args],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_serving_imports_no_heavy_library_until_a_forecast_runs(demo_shop):
    report = probe(demo_shop, "--run-forecast")
    failed = {page: status for page, status in report["status"].items() if status not in ALL_PAGES_OK}
    assert not failed
    assert len(report["status"]) >= 17  # every page above was served
    assert report["heavy_after_serving"] == []
    # The probe sees an import when one happens: the scikit-learn forecaster ran.
    assert {"sklearn", "numpy"} <= set(report["heavy_after_forecast"])
