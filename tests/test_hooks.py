"""Every hookspec is documented and exercised here (the meta-tests at the end check
that), as in datasette's test_plugins: a new hook without a test fails the suite.

Event hooks are observed by a recording plugin that, inside the hook, reads the
order through a separate database connection: it proves the change was committed
before the hook ran.
"""
from __future__ import annotations

import inspect
import re
from datetime import datetime, timezone
from pathlib import Path

import click
import pytest
from markupsafe import escape
from sqlalchemy import select

from oms_core import hookspecs
from oms_core.constants import PROJECT_NAME
from oms_core.db import db
from oms_core.errors import OutOfStock, PaymentRefused, ValidationError
from oms_core.hookspecs import hookimpl
from oms_core.models import Order, Payment, Shipment
from oms_core.protocols import MenuItem, TrackingUpdate
from oms_core.services import orders, payments, shipments
from oms_core.testing import dispose, make_app

EVENT_HOOKS = ("on_order_placed", "on_order_status_changed", "on_payment_recorded",
               "on_shipment_updated")


def committed(model, row_id, column):
    """The value as another connection sees it: only committed data is visible there."""
    with db.engine.connect() as connection:
        return connection.execute(select(column).where(model.id == row_id)).scalar()


class Recorder:
    """Records every event hook call with what was committed at that moment."""

    __name__ = "hook_recorder"

    def __init__(self):
        self.calls: list[tuple] = []

    def names(self) -> list[str]:
        return [call[0] for call in self.calls]

    @hookimpl
    def on_order_placed(self, order):
        self.calls.append(("on_order_placed", order.id, committed(Order, order.id, Order.status)))

    @hookimpl
    def on_order_status_changed(self, order, old_status, new_status, actor):
        self.calls.append(("on_order_status_changed", order.id, old_status, new_status, actor,
                           committed(Order, order.id, Order.status)))

    @hookimpl
    def on_payment_recorded(self, order, payment):
        self.calls.append(("on_payment_recorded", order.id, payment.amount_minor, payment.status,
                           committed(Payment, payment.id, Payment.status)))

    @hookimpl
    def on_shipment_updated(self, order, shipment, event):
        self.calls.append(("on_shipment_updated", order.id, event.status if event else None,
                           committed(Shipment, shipment.id, Shipment.status)))


class ShopUIPlugin:
    """What a host shop's own plugin adds to the back-office and the CLI."""

    __name__ = "shop_ui"

    @hookimpl
    def admin_menu_items(self, user):
        return [MenuItem("Hook report", "/reports/hook"),
                MenuItem("Owner hook report", "/reports/owner", owner_only=True)]

    @hookimpl
    def order_page_panels(self, order, user):
        return (f'<section class="panel" id="hook-panel">Loyalty for {escape(order.number)}, '
                f'seen by {escape(user.name)}</section>')

    @hookimpl
    def register_commands(self, cli):
        @cli.command("hook-hello")
        @click.argument("who")
        def hook_hello(who):
            """A command a plugin adds."""
            click.echo(f"hello {who} from a plugin")


class ExtraObjectsPlugin:
    """A third-party gateway, carrier and forecaster, registered beside the defaults."""

    __name__ = "extra_objects"

    @hookimpl
    def register_payment_gateways(self):
        from oms_core.default_plugins.manual_payment import OfflinePayment

        return [OfflinePayment("voucher", "Gift voucher", pays_on_delivery=False, needs_reference=True)]

    @hookimpl
    def register_carriers(self):
        from oms_core.default_plugins.manual_carrier import ManualCarrier

        class Courier(ManualCarrier):
            id = "courier"
            label = "Bike courier"

        return [Courier()]

    @hookimpl
    def register_forecasters(self):
        from oms_core.default_plugins.seasonal_naive import SeasonalNaive

        class Flat(SeasonalNaive):
            id = "flat"
            label = "Flat"

        return [Flat()]


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def app(database_url, app_config, recorder):
    """The conftest app, with this module's plugins registered by the host."""
    app = make_app(database_url, upgrade=False,
                   extra_plugins=[recorder, ShopUIPlugin(), ExtraObjectsPlugin()], **app_config)
    with app.app_context():
        yield app
        db.session.remove()
    dispose(app)


# ------------------------------------------------------------------ registration hooks


def test_register_payment_gateways_carriers_and_forecasters(app, place, recorder):
    """register_payment_gateways, register_carriers, register_forecasters: the
    objects are collected beside the defaults and the core calls them by id."""
    registry = app.extensions[PROJECT_NAME].registry
    assert {"bank_transfer", "cash_on_delivery", "voucher"} <= set(registry.gateways)
    assert {"manual", "courier"} <= set(registry.carriers)
    assert {"seasonal_naive", "flat"} <= set(registry.forecasters)

    order = place(payment_method="voucher", confirm=True)
    assert order.payment_method == "voucher"
    with pytest.raises(PaymentRefused, match="reference"):
        payments.record_payment(order.id, gateway_id="voucher", amount_minor=order.total_minor,
                                currency="EUR", reference="", actor="test")
    payments.record_payment(order.id, gateway_id="voucher", amount_minor=order.total_minor,
                            currency="EUR", reference="V-1", actor="test")
    shipment = shipments.create_shipment(order.id, carrier_id="courier", service="DHL", tracking_number="BK1",
                                         actor="test")
    assert shipment.carrier_id == "courier"
    forecast = registry.forecaster("flat").forecast({"a": [1.0, 2.0]}, horizon=2, season_length=1)
    assert list(forecast["a"].point) == [2.0, 2.0]


# ------------------------------------------------------------------ event hooks


def test_on_order_placed_fires_after_commit(app, place, recorder):
    order = place(confirm=False)
    assert recorder.calls == [("on_order_placed", order.id, "placed")]


def test_on_order_status_changed_fires_after_commit(app, place, recorder):
    order = place(confirm=False)
    orders.confirm_order(order.id, actor="staff:1")
    orders.cancel_order(order.id, actor="staff:1", reason="Customer called")
    changes = [call for call in recorder.calls if call[0] == "on_order_status_changed"]
    assert changes == [
        ("on_order_status_changed", order.id, "placed", "confirmed", "staff:1", "confirmed"),
        ("on_order_status_changed", order.id, "confirmed", "cancelled", "staff:1", "cancelled"),
    ]


def test_on_payment_recorded_fires_after_commit(app, place, recorder):
    order = place(confirm=True)
    recorder.calls.clear()
    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=100,
                            currency="EUR", reference="T1", actor="test")
    assert recorder.calls == [("on_payment_recorded", order.id, 100, "recorded", "recorded")]
    payments.record_payment(order.id, gateway_id="bank_transfer",
                            amount_minor=order.total_minor - 100, currency="EUR", reference="T2",
                            actor="test")
    # Paying in full also moves the order to paid: both hooks, each after the commit.
    assert recorder.names()[1:] == ["on_order_status_changed", "on_payment_recorded"]
    assert recorder.calls[1][3:] == ("paid", "test", "paid")


def test_on_shipment_updated_fires_after_commit(app, place, recorder):
    order = place(confirm=True)
    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=order.total_minor,
                            currency="EUR", reference="T1", actor="test")
    recorder.calls.clear()
    shipment = shipments.create_shipment(order.id, carrier_id="manual", service="DHL",
                                         tracking_number="JD1", actor="test")
    created = [call for call in recorder.calls if call[0] == "on_shipment_updated"]
    assert created == [("on_shipment_updated", order.id, None, "pre_transit")]

    recorder.calls.clear()
    update = TrackingUpdate("JD1", "in_transit", datetime.now(timezone.utc), raw_code="TRN")
    shipments.add_tracking_update(shipment.id, update, source="test")
    assert recorder.calls == [("on_shipment_updated", order.id, "in_transit", "in_transit")]
    recorder.calls.clear()
    shipments.add_tracking_update(shipment.id, update, source="test")  # a resent event
    assert recorder.calls == []


def test_a_failing_transaction_fires_no_hook(app, make_product, place, recorder):
    product = make_product(on_hand=1)
    with pytest.raises(OutOfStock):
        place([(product.sku, 2)], confirm=True)  # the order row was written, then rolled back
    assert recorder.calls == []
    assert db.session.query(Order).count() == 0

    order = place([(product.sku, 1)], confirm=True)
    recorder.calls.clear()
    with pytest.raises(PaymentRefused):
        payments.record_payment(order.id, gateway_id="bank_transfer",
                                amount_minor=order.total_minor + 1, currency="EUR",
                                reference="T1", actor="test")
    with pytest.raises(ValidationError):
        shipments.create_shipment(order.id, carrier_id="manual", service="DHL",
                                  tracking_number="", actor="test")
    assert recorder.calls == []


# ------------------------------------------------------------------ UI hooks


def test_admin_menu_items_adds_an_entry_to_the_back_office(app, staff_client):
    page = staff_client.get("/oms/admin/").get_data(as_text=True)
    assert '<a href="/reports/hook">Hook report</a>' in page
    assert "Owner hook report" not in page  # owner_only entries are filtered for staff


def test_admin_menu_items_owner_only_entry_for_owners(app, owner_client):
    page = owner_client.get("/oms/admin/").get_data(as_text=True)
    assert '<a href="/reports/owner">Owner hook report</a>' in page


# Needs the back-office order page (GET /oms/admin/orders/<id>, web/admin/orders.py), which
# is built in parallel with this test: it fails until that page renders.
def test_order_page_panels_adds_a_panel_on_the_order_page(app, place, staff_client):
    order = place(confirm=True)
    response = staff_client.get(f"/oms/admin/orders/{order.id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert (f'<section class="panel" id="hook-panel">Loyalty for {order.number}, seen by '
            f'Sam Staff</section>') in page


def test_register_commands_adds_a_flask_oms_command(app, runner):
    result = runner.invoke(args=["oms", "hook-hello", "Ann"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello Ann from a plugin\n"
    assert "hook-hello" in runner.invoke(args=["oms", "--help"]).output


# ------------------------------------------------------------------ meta-tests


def hookspec_functions():
    marker = f"{PROJECT_NAME}_spec"
    return {name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
            if hasattr(fn, marker)}


def test_hookspecs_found():
    assert set(EVENT_HOOKS) | {"admin_menu_items", "order_page_panels", "register_commands"} \
        <= set(hookspec_functions())


@pytest.mark.parametrize("name", sorted(hookspec_functions()))
def test_every_hookspec_is_documented(name):
    spec = hookspec_functions()[name]
    doc = inspect.getdoc(spec) or ""
    assert "Called" in doc, f"{name}: say when the hook is called"
    assert re.search(r"\bReturn", doc), f"{name}: say what the hook returns"
    options = getattr(spec, f"{PROJECT_NAME}_spec")
    if options.get("firstresult"):
        assert "first" in doc.lower(), f"{name}: say that the first answer wins"


@pytest.mark.parametrize("name", sorted(hookspec_functions()))
def test_every_hookspec_is_exercised_in_this_file(name):
    source = Path(__file__).read_text()
    # Each top-level test function (its name, docstring and body), meta-tests excluded.
    chunks = re.split(r"^(?=\S)", source, flags=re.M)  # one chunk per top-level statement
    tests = [c for c in chunks if c.startswith("def test_") and "hookspec_functions()" not in c]
    exercising = [t for t in tests if name in t]
    assert exercising, f"no test in {Path(__file__).name} exercises the hook {name}"
