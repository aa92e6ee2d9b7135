"""Plugin settings (docs/plugins.md, "Settings"): how a plugin receives them, how the
shop sees which gateways, carriers and forecasters are not configured, and that one
missing its required settings cannot be chosen for anything new while what already
names it still shows."""
from __future__ import annotations

import importlib.metadata

import pytest
from sqlalchemy import func, select

from oms_core.constants import ENTRY_POINT_GROUP
from oms_core.db import db
from oms_core.errors import NotFound, PluginError, PluginNotConfigured
from oms_core.hookspecs import hookimpl
from oms_core.models import InboundEvent, Order, OutboxMessage, Payment, Shipment
from oms_core.plugin_settings import PluginSettings, environment_name
from oms_core.plugins import CARRIER, FORECASTER, GATEWAY, load_plugins
from oms_core.protocols import PaymentResult, WebhookResult
from oms_core.services import orders, outbox, payments, shipments, storefront
from oms_core.testing import dispose, make_app
from oms_core.testing.fakes import BookingCarrier, plugin_registering

from conftest import LoggedInClient

ADMIN = "/oms/admin"
API_KEY = "sk_live_do_not_show_4242"  # a value: must never appear on a page or in a listing


class KeyedGateway:
    id = "keyedpay"
    label = "Keyed Pay"
    pays_on_delivery = False
    required_settings = ("api_key", "webhook_secret")

    def __init__(self, settings: dict):
        self.api_key = settings.get("api_key")

    def verify_payment(self, request):
        return PaymentResult.success(external_id="kp-1")

    def parse_webhook(self, body, headers, secret):
        return WebhookResult(ok=False, error="not reached while not configured")


class KeyedCarrier(BookingCarrier):
    required_settings = ("api_key",)


class KeyedPlugin:
    """Builds its objects from the settings it is handed, as a plugin should."""

    __name__ = "keyed_plugin"

    def __init__(self):
        self.seen = {}

    @hookimpl
    def register_payment_gateways(self, settings):
        self.seen["keyedpay"] = settings.for_id("keyedpay")
        return [KeyedGateway(settings.for_id("keyedpay"))]

    @hookimpl
    def register_carriers(self):
        return [KeyedCarrier("keyedpost", "Keyed Post", prefix="KP")]


CONFIGURED = {"keyedpay": {"api_key": API_KEY, "webhook_secret": "whsec_1"},
              "keyedpost": {"api_key": API_KEY}}


def keyed_app(database_url, settings=CONFIGURED):
    """Another app on the same database, with or without the settings."""
    return make_app(database_url, upgrade=False, extra_plugins=[KeyedPlugin()], OMS_PLUGINS=settings)


@pytest.fixture
def app_config():
    return {"extra_plugins": [KeyedPlugin()]}


# ------------------------------------------------------------------ the mechanism


def test_settings_come_from_the_config_and_the_environment():
    environ = {"OMS_PLUGIN_STRIPE_API_KEY": "from-env", "OMS_PLUGIN_STRIPE_MODE": "live",
               "OMS_PLUGIN_STRIPEX_MODE": "another object", "OMS_PLUGIN_STRIPE_": "no name"}
    settings = PluginSettings({"stripe": {"api_key": "from-config"}}, environ=environ)
    assert settings.for_id("stripe") == {"api_key": "from-config", "mode": "live"}
    assert settings.get("stripe", "missing", "default") == "default"
    assert environment_name("harbour-post", "api_key") == "OMS_PLUGIN_HARBOUR_POST_API_KEY"


def test_the_registration_hook_receives_the_settings(monkeypatch):
    monkeypatch.setenv("OMS_PLUGIN_KEYEDPAY_WEBHOOK_SECRET", "whsec_env")
    plugin = KeyedPlugin()
    registry = load_plugins(extra_plugins=[plugin], use_entry_points=False,
                            settings=PluginSettings({"keyedpay": {"api_key": "k1"}}))
    assert plugin.seen["keyedpay"] == {"api_key": "k1", "webhook_secret": "whsec_env"}
    assert registry.gateway("keyedpay").api_key == "k1"


@pytest.mark.parametrize("required", ["api_key", ["Api_Key"], ["api-key"], [""], [1]])
def test_required_settings_must_be_a_list_of_lower_case_names(required):
    carrier = KeyedCarrier("odd")
    carrier.required_settings = required

    with pytest.raises(PluginError, match="required_settings of carrier 'odd' must be a list"):
        load_plugins(extra_plugins=[plugin_registering(carrier)], use_entry_points=False)


def test_status_names_what_is_missing_and_where_to_set_it():
    settings = PluginSettings({"keyedpay": {"webhook_secret": "", "api_key": API_KEY}}, environ={})
    registry = load_plugins(extra_plugins=[KeyedPlugin()], use_entry_points=False, settings=settings)
    [keyed] = [s for s in registry.status(GATEWAY) if s.obj.id == "keyedpay"]
    assert not keyed.configured and keyed.missing == ("webhook_secret",)  # empty counts as missing
    assert keyed.environment_names == ("OMS_PLUGIN_KEYEDPAY_WEBHOOK_SECRET",)
    assert API_KEY not in keyed.problem()
    configured = [s.obj.id for s in registry.status(GATEWAY) if s.configured]
    assert configured == ["bank_transfer", "cash_on_delivery"]
    assert [g.id for g in registry.usable(GATEWAY)] == ["bank_transfer", "cash_on_delivery"]
    assert {s.obj.id for s in registry.status(FORECASTER) if s.configured} == {"seasonal_naive"}
    with pytest.raises(PluginNotConfigured, match=r"payment method 'keyedpay' is not configured: it needs "
                                                  r"webhook_secret .*OMS_PLUGIN_KEYEDPAY_WEBHOOK_SECRET"):
        registry.gateway("keyedpay")
    with pytest.raises(PluginNotConfigured, match="carrier 'keyedpost' is not configured: it needs api_key"):
        registry.carrier("keyedpost")
    with pytest.raises(NotFound, match="No carrier 'nope' is installed"):
        registry.carrier("nope")


# ------------------------------------------------------------------ cannot be chosen


def test_checkout_offers_only_configured_payment_methods(app, database_url):
    assert dict(storefront.payment_methods()) == {"bank_transfer": "Bank transfer",
                                                  "cash_on_delivery": "Cash on delivery"}
    configured = keyed_app(database_url)
    try:
        with configured.app_context():
            assert "keyedpay" in dict(storefront.payment_methods())
    finally:
        dispose(configured)


def test_placing_an_order_with_it_is_refused_and_writes_nothing(app, place):
    with pytest.raises(PluginNotConfigured, match="'keyedpay' is not configured"):
        place(payment_method="keyedpay")
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_payments_and_shipments_with_it_are_refused(app, place):
    order = place(confirm=True)
    with pytest.raises(PluginNotConfigured):
        payments.record_payment(order.id, gateway_id="keyedpay", amount_minor=order.total_minor,
                                currency="EUR", reference="R", actor="test")
    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=order.total_minor,
                            currency="EUR", reference="R", actor="test")
    with pytest.raises(PluginNotConfigured, match="carrier 'keyedpost'"):
        shipments.create_shipment(order.id, carrier_id="keyedpost", service="std", actor="test")
    db.session.expire_all()
    assert orders.get_order(order.id).status == "paid"
    assert db.session.scalar(select(func.count()).select_from(Shipment)) == 0
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 1


def test_a_webhook_for_it_is_refused_until_configured(app, client, place):
    order = place(confirm=True)
    response = client.post("/oms/webhooks/payments/keyedpay", data=b'{"id": "evt_1"}',
                           content_type="application/json")
    assert response.status_code == 503
    assert "not configured" in response.get_json()["error"]
    db.session.expire_all()
    assert orders.get_order(order.id).payment_status == "unpaid"
    # Kept all the same, so staff see the sender trying while they set the plugin up.
    [kept] = db.session.scalars(select(InboundEvent)).all()
    assert (kept.plugin_id, kept.outcome, kept.body) == ("keyedpay", "refused", b'{"id": "evt_1"}')
    assert "not configured" in kept.reason and "api_key" in kept.reason


def test_existing_orders_still_show_it_but_forms_no_longer_offer_it(app, database_url, place, owner_user):
    configured = keyed_app(database_url)
    try:
        with configured.app_context():
            part_paid = place(payment_method="keyedpay", confirm=True)
            payments.record_payment(part_paid.id, gateway_id="keyedpay", amount_minor=100, currency="EUR",
                                    reference="R1", actor="test")
            paid = place(confirm=True)
            payments.record_payment(paid.id, gateway_id="bank_transfer", amount_minor=paid.total_minor,
                                    currency="EUR", reference="R2", actor="test")
            part_paid_id, paid_id = part_paid.id, paid.id
        owner = LoggedInClient(app.test_client(), "owner@example.com", "owner-password")
        page = owner.get(f"{ADMIN}/orders/{part_paid_id}").get_data(as_text=True)
        assert page.count("Keyed Pay") == 2  # the order's method and its payment, by label
        assert 'name="gateway_id"' in page and 'value="bank_transfer"' in page
        assert 'value="keyedpay"' not in page
        page = owner.get(f"{ADMIN}/orders/{paid_id}").get_data(as_text=True)
        assert 'name="carrier_id"' in page and 'value="manual"' in page
        assert 'value="keyedpost"' not in page
        new_form = owner.get(f"{ADMIN}/orders/new").get_data(as_text=True)
        assert 'value="keyedpay"' not in new_form and 'value="bank_transfer"' in new_form

        with configured.app_context():  # with its settings the same forms offer it
            owner = LoggedInClient(configured.test_client(), "owner@example.com", "owner-password")
            assert 'value="keyedpay"' in owner.get(f"{ADMIN}/orders/{part_paid_id}").get_data(as_text=True)
            assert 'value="keyedpost"' in owner.get(f"{ADMIN}/orders/{paid_id}").get_data(as_text=True)
    finally:
        dispose(configured)


def test_a_booking_queued_before_its_settings_went_waits_for_them(app, database_url, place):
    """The outbox worker refuses to book with a carrier that lost its settings; the
    message keeps the reason and is booked once a worker has them."""
    configured = keyed_app(database_url)
    try:
        with configured.app_context():
            order = place(confirm=True)
            payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=order.total_minor,
                                    currency="EUR", reference="R", actor="test")
            shipment_id = shipments.create_shipment(order.id, carrier_id="keyedpost", service="std",
                                                    actor="test").id
        outbox.run_once()  # (the emails fail too: nothing listens on the test SMTP port)
        message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == shipments.BOOK_KIND))
        assert message.status == "pending" and message.attempts == 1
        assert "'keyedpost' is not configured" in message.last_error and API_KEY not in message.last_error
        message_id = message.id
        db.session.rollback()  # end this read: the next ones must see the other app's writes
        with configured.app_context():
            outbox.retry_now(message_id)
            outbox.run_once()
        assert db.session.get(OutboxMessage, message_id).status == "sent"
        assert db.session.get(Shipment, shipment_id).tracking_number == "KP0001"
    finally:
        dispose(configured)


# ------------------------------------------------------------------ listings


def test_flask_oms_plugins_says_what_is_not_configured(app, runner):
    output = runner.invoke(args=["oms", "plugins"]).output
    lines = output.splitlines()
    assert "  payment keyedpay: Keyed Pay (NOT CONFIGURED)" in lines
    assert ("      missing setting api_key: set OMS_PLUGINS['keyedpay']['api_key'] "
            "or OMS_PLUGIN_KEYEDPAY_API_KEY") in lines
    assert "      missing setting webhook_secret: set OMS_PLUGINS['keyedpay']['webhook_secret'] " \
           "or OMS_PLUGIN_KEYEDPAY_WEBHOOK_SECRET" in lines
    assert "  carrier keyedpost: Keyed Post (NOT CONFIGURED)" in lines
    assert "  payment bank_transfer: Bank transfer" in lines  # configured: nothing added


class TestSettingsFromTheEnvironment:
    @pytest.fixture
    def app_config(self, monkeypatch):
        monkeypatch.setenv("OMS_PLUGIN_KEYEDPAY_API_KEY", API_KEY)
        monkeypatch.setenv("OMS_PLUGIN_KEYEDPAY_WEBHOOK_SECRET", "whsec_env")
        # Only the test's own plugins: installed ones (EasyPost...) have settings of their own.
        installed = sorted(ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
        return {"extra_plugins": [KeyedPlugin()], "OMS_PLUGINS": {"keyedpost": {"api_key": API_KEY}},
                "OMS_DISABLED_PLUGINS": installed}

    def test_everything_is_configured_and_listed_without_values(self, app, runner, owner_client):
        output = runner.invoke(args=["oms", "plugins"]).output
        assert "NOT CONFIGURED" not in output and "missing setting" not in output
        assert "  payment keyedpay: Keyed Pay" in output.splitlines()
        page = owner_client.get(f"{ADMIN}/plugins").get_data(as_text=True)
        assert ">not configured<" not in page and API_KEY not in page and "whsec_env" not in page
        assert "sk_test_env" not in page
        assert "keyedpay" in dict(storefront.payment_methods())


def table_row(page: str, table_id: str, object_id: str) -> str:
    """The HTML of one object's row in one of the plugins page's tables."""
    table = page.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return table.split(f'<td class="mono">{object_id}</td>', 1)[1].split("</tr>", 1)[0]


def test_the_plugins_page_shows_missing_setting_names_never_values(app, database_url, owner_client):
    page = owner_client.get(f"{ADMIN}/plugins").get_data(as_text=True)
    keyed = table_row(page, "gateways-table", "keyedpay")
    assert "not configured" in keyed
    for name in ("api_key", "webhook_secret"):
        assert name in keyed and environment_name("keyedpay", name) in keyed
    bank = table_row(page, "gateways-table", "bank_transfer")
    assert "configured" in bank and "not configured" not in bank
    assert "OMS_PLUGIN_KEYEDPOST_API_KEY" in table_row(page, "carriers-table", "keyedpost")

    # Half configured: the value that is set stays off the page, the missing one is named.
    half = make_app(database_url, upgrade=False, extra_plugins=[KeyedPlugin()],
                    OMS_PLUGINS={"keyedpay": {"api_key": API_KEY}})
    try:
        with half.app_context():
            owner = LoggedInClient(half.test_client(), "owner@example.com", "owner-password")
            page = owner.get(f"{ADMIN}/plugins").get_data(as_text=True)
        assert API_KEY not in page
        keyed = table_row(page, "gateways-table", "keyedpay")
        assert "OMS_PLUGIN_KEYEDPAY_WEBHOOK_SECRET" in keyed and "OMS_PLUGIN_KEYEDPAY_API_KEY" not in keyed
    finally:
        dispose(half)


def test_only_owners_see_the_plugins_page(app, staff_client):
    assert staff_client.get(f"{ADMIN}/plugins").status_code == 403


def test_a_not_configured_forecaster_is_left_out_of_auto_and_refused_by_name():
    class NeedsKey:
        id = "keyed_forecast"
        label = "Keyed forecast"
        required_settings = ("licence",)

        def forecast(self, series, horizon, season_length, level=0.8):
            raise AssertionError("never called while not configured")

    registry = load_plugins(extra_plugins=[plugin_registering(NeedsKey())], use_entry_points=False,
                            settings=PluginSettings({}, environ={}))
    assert "keyed_forecast" in registry.forecasters
    assert [f.id for f in registry.usable(FORECASTER)] == ["seasonal_naive"]
    with pytest.raises(PluginNotConfigured, match="forecaster 'keyed_forecast' is not configured"):
        registry.forecaster("keyed_forecast")
    assert [c.id for c in registry.usable(CARRIER)] == ["manual"]
