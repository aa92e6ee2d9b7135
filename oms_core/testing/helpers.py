"""Helpers for tests that drive an OMS app as the world around it would: the outbox
worker, a gateway or carrier delivering a webhook, a customer's order.

They import the services when called, so importing the kit stays light.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Callable, Iterator, Mapping, Optional

from ..constants import CONFIG_PREFIX, EXTENSION_KEY
from ..plugin_settings import WEBHOOK_SECRET

# A webhook's kind -> the URL segment under OMS_WEBHOOK_PREFIX.
WEBHOOK_PATHS = {"payment": "payments", "carrier": "carriers"}
TEST_SKU = "TEST-1"


def _end_read() -> None:
    """End the test's own read transaction, as the next service call would, so that
    what it reads next (objects it holds are expired) shows what another session —
    a request, a worker — has just committed."""
    from flask import has_app_context

    if has_app_context():
        from ..db import db

        db.session.commit()


def run_worker_once(app, limit: int = 1000) -> tuple[int, int]:
    """Send the outbox messages that are due now (carrier bookings, emails), as one
    round of `flask oms worker` does in its own process; returns (sent, failed).

    A failure is retried by a later round only after its back-off delay. Emails fail
    unless the test sets OMS_SMTP_HOST/PORT to a server: the kit's app points them at
    a closed port."""
    from ..services import outbox

    with app.app_context():  # its own session, like a separate worker process
        result = outbox.run_once(limit=limit)
    _end_read()
    return result


def post_signed_webhook(client, kind: str, plugin_id: str, body, *,
                        sign: Optional[Callable[[bytes, str], Mapping[str, str]]] = None,
                        headers: Optional[Mapping[str, str]] = None, secret: Optional[str] = None,
                        content_type: str = "application/json"):
    """POST a webhook as the gateway (`kind` "payment") or carrier ("carrier") would,
    to <OMS_WEBHOOK_PREFIX>/payments/<plugin_id> or /carriers/<plugin_id>; returns
    the response.

    `body`: the bytes sent, or a dict or list sent as JSON. `sign(body, secret)`
    returns the signature headers, signed with `secret` or else the plugin's
    `webhook_secret` setting in the app (set it in your `oms_config` fixture);
    `headers` are sent as given (e.g. to send a signature made by hand).
    """
    if kind not in WEBHOOK_PATHS:
        raise ValueError(f"kind must be one of {', '.join(WEBHOOK_PATHS)}, not {kind!r}.")
    app = client.application
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    sent: dict[str, str] = {}
    if sign is not None:
        if secret is None:
            secret = app.extensions[EXTENSION_KEY].registry.settings.get(plugin_id, WEBHOOK_SECRET)
        if not secret:
            raise ValueError(f"No {WEBHOOK_SECRET} is set for '{plugin_id}' in this app: set "
                             f"{CONFIG_PREFIX}PLUGINS['{plugin_id}']['{WEBHOOK_SECRET}'] (oms_config) "
                             "or pass secret=.")
        sent.update(sign(body, secret))
    sent.update(headers or {})
    url = f"{app.config[CONFIG_PREFIX + 'WEBHOOK_PREFIX']}/{WEBHOOK_PATHS[kind]}/{plugin_id}"
    response = client.post(url, data=body, headers=sent, content_type=content_type)
    _end_read()
    return response


def stocked_product(sku: str = TEST_SKU):
    """The product `sku`, created with 10 units on hand at 12.50 EUR when missing."""
    from sqlalchemy import select

    from ..db import db
    from ..models import Product
    from ..services import catalog

    product = db.session.scalar(select(Product).where(Product.sku == sku))
    if product is None:
        product = catalog.create_product(sku=sku, name=f"Test product {sku}", price_minor=1250,
                                         currency="EUR", on_hand=10, actor="test")
    return product


def place_test_order(*, payment_method: str = "bank_transfer", paid: bool = False, sku: str = TEST_SKU,
                     quantity: int = 1, email: str = "customer@example.com"):
    """A confirmed web order of `quantity` x `sku` (see `stocked_product`), shipped to
    the Netherlands and paid by `payment_method`; with `paid`, a payment of the whole
    total is recorded through that method (its verify_payment must accept it)."""
    from ..services import orders, payments

    stocked_product(sku)
    order = orders.place_order(orders.NewOrder(
        email=email, name="Test Customer", lines=[(sku, quantity)], payment_method=payment_method,
        address={"line1": "Keizersgracht 1", "postal_code": "1015 CJ", "city": "Amsterdam",
                 "country": "NL"}), actor="test", confirm=True)
    if paid:
        payments.record_payment(order.id, gateway_id=payment_method, amount_minor=order.total_minor,
                                currency=order.currency, reference="TEST-PAYMENT", actor="test")
    return orders.get_order(order.id)


@contextmanager
def scratch_postgres_database(server_url: str, prefix: str = "oms_test") -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of `server_url` (a user allowed
    to create databases); yields its URL and drops it afterwards, whoever is still
    connected to it."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def postgres_test_database(prefix: str = "oms_test") -> Iterator[str]:
    """For a pytest fixture (`yield from postgres_test_database("oms_myplugin")`): a
    scratch database on the server of OMS_TEST_POSTGRES_URL. Without that variable
    the test is skipped, or failed when OMS_CI_STRICT=1 (CI must not skip it)."""
    import os

    import pytest

    server_url = os.environ.get("OMS_TEST_POSTGRES_URL", "")
    if not server_url:
        reason = "PostgreSQL tests need OMS_TEST_POSTGRES_URL"
        if os.environ.get("OMS_CI_STRICT") == "1":
            pytest.fail(f"OMS_CI_STRICT: {reason}", pytrace=False)
        pytest.skip(reason)
    with scratch_postgres_database(server_url, prefix) as url:
        yield url
