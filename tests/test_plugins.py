"""Plugin discovery: entry points, disabling, and start-up refusing bad plugins
with a message that names the culprit."""
from __future__ import annotations

import importlib.metadata

import pytest

import oms_core
from oms_core.constants import DISTRIBUTION_NAME, ENTRY_POINT_GROUP, EXTENSION_KEY
from oms_core.db import db
from oms_core.errors import NotFound, PluginError
from oms_core.hookspecs import hookimpl
from oms_core.models import Order
from oms_core.plugins import load_plugins
from oms_core.protocols import CarrierResult, PaymentResult
from oms_core.services import orders, payments, shipments
from oms_core.testing import dispose, make_app

from plugin_fixtures import fake_dists  # noqa: F401  (fixture)

DEFAULT_PLUGINS = ("manual_payment", "manual_carrier", "seasonal_naive")


def start(tmp_path, **config):
    """Start an app the way a host does; plugin problems surface here."""
    app = make_app(f"sqlite:///{tmp_path / 'start.sqlite3'}", upgrade=False, **config)
    dispose(app)
    return app


# ------------------------------------------------------------------ discovery


def test_the_default_plugins_come_with_the_core():
    """No distribution of their own: installing the core alone gives a working shop."""
    names = {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert not set(DEFAULT_PLUGINS) & names

    registry = load_plugins(use_entry_points=False)
    assert {"bank_transfer", "cash_on_delivery"} <= set(registry.gateways)
    assert "manual" in registry.carriers
    assert "seasonal_naive" in registry.forecasters
    infos = {info.name: info for info in registry.plugins()}
    for name in DEFAULT_PLUGINS:
        assert infos[name].builtin
        assert (infos[name].distribution, infos[name].version) == (DISTRIBUTION_NAME, oms_core.__version__)
    assert infos["manual_payment"].hooks == ["register_payment_gateways"]


def test_without_defaults_or_entry_points_nothing_is_registered():
    registry = load_plugins(use_entry_points=False, use_defaults=False)
    assert registry.gateways == registry.carriers == registry.forecasters == {}
    with pytest.raises(NotFound, match="No payment method 'bank_transfer' is installed"):
        registry.gateway("bank_transfer")


def test_a_third_party_distribution_is_discovered(fake_dists, tmp_path):
    fake_dists.add("flask-oms-acme-post", "acme_post", "oms_test_acme_post", """
        from oms_core.hookspecs import hookimpl
        from oms_core.default_plugins.manual_carrier import ManualCarrier

        class AcmePost(ManualCarrier):
            id = "acme"
            label = "Acme Post"

        @hookimpl
        def register_carriers():
            return [AcmePost()]
    """)
    app = start(tmp_path)
    registry = app.extensions[EXTENSION_KEY].registry
    assert registry.carrier("acme").label == "Acme Post"
    info = {i.name: i for i in registry.plugins()}["acme_post"]
    assert (info.distribution, info.version, info.hooks) == \
        ("flask-oms-acme-post", "1.2.3", ["register_carriers"])


# ------------------------------------------------------------------ disabling


class TestDisabledCarrier:
    @pytest.fixture
    def app_config(self):
        return {"OMS_DISABLED_PLUGINS": ["manual_carrier"]}

    def test_disabled_plugin_is_not_loaded(self, app, runner):
        registry = app.extensions[EXTENSION_KEY].registry
        assert "manual" not in registry.carriers
        assert "bank_transfer" in registry.gateways  # the others still load
        assert "manual_carrier" not in {info.name for info in registry.plugins()}
        output = runner.invoke(args=["oms", "plugins"]).output
        assert "manual_carrier" not in output and "manual_payment" in output

    def test_shipping_with_it_is_a_clear_not_found(self, app, place):
        order = place(confirm=True)
        payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=order.total_minor,
                                currency="EUR", reference="T1", actor="test")
        with pytest.raises(NotFound, match="No carrier 'manual' is installed"):
            shipments.create_shipment(order.id, carrier_id="manual", service="DHL",
                                      tracking_number="JD1", actor="test")
        db.session.expire_all()
        assert orders.get_order(order.id).status == "paid"
        assert shipments.shipments_for(order.id) == []


class TestDisabledPayment:
    @pytest.fixture
    def app_config(self):
        return {"OMS_DISABLED_PLUGINS": ["manual_payment"]}

    def test_placing_with_it_is_a_clear_not_found(self, app, place):
        with pytest.raises(NotFound, match="No payment method 'bank_transfer' is installed"):
            place(payment_method="bank_transfer")
        assert db.session.query(Order).count() == 0


# ------------------------------------------------------------------ refusals


class DuplicateGateway:
    """A host-app plugin that claims an id the manual payment plugin owns."""

    __name__ = "shop_gateways"  # the name pluggy reports

    @hookimpl
    def register_payment_gateways(self):
        from oms_core.default_plugins.manual_payment import OfflinePayment

        return [OfflinePayment("bank_transfer", "My bank", False, True)]


def test_duplicate_id_stops_start_up_naming_both_plugins(tmp_path):
    with pytest.raises(PluginError) as info:
        start(tmp_path, extra_plugins=[DuplicateGateway()])
    message = str(info.value)
    assert "'bank_transfer'" in message
    assert "'manual_payment'" in message and "'shop_gateways'" in message


def test_duplicate_id_between_two_distributions(fake_dists, tmp_path):
    fake_dists.add("flask-oms-other-bank", "other_bank", "oms_test_other_bank", """
        from oms_core.hookspecs import hookimpl
        from oms_core.default_plugins.manual_payment import OfflinePayment

        @hookimpl
        def register_payment_gateways():
            return [OfflinePayment("bank_transfer", "Other bank", False, True)]
    """)
    with pytest.raises(PluginError, match="Duplicate payment gateway id 'bank_transfer'") as info:
        start(tmp_path)
    assert "'manual_payment'" in str(info.value) and "'other_bank'" in str(info.value)


def test_misspelled_hook_in_an_installed_plugin_stops_start_up(fake_dists, tmp_path):
    fake_dists.add("flask-oms-typo", "typo_plugin", "oms_test_typo", """
        from oms_core.hookspecs import hookimpl

        @hookimpl
        def register_carrier():  # the hook is register_carriers
            return []
    """)
    with pytest.raises(PluginError) as info:
        start(tmp_path)
    message = str(info.value)
    assert "'typo_plugin'" in message and "register_carrier" in message


def test_wrong_argument_name_in_an_installed_plugin_stops_start_up(fake_dists, tmp_path):
    fake_dists.add("flask-oms-bad-args", "bad_args", "oms_test_bad_args", """
        from oms_core.hookspecs import hookimpl

        @hookimpl
        def on_order_placed(order, customer):  # the hook passes only `order`
            pass
    """)
    with pytest.raises(PluginError) as info:
        start(tmp_path)
    message = str(info.value)
    assert "'bad_args'" in message and "flask-oms-bad-args" in message and "customer" in message


def test_a_plugin_that_fails_to_import_is_named(fake_dists, tmp_path):
    fake_dists.add("flask-oms-broken", "broken", "oms_test_broken", """
        import a_module_that_does_not_exist
    """)
    with pytest.raises(PluginError, match="'broken'.*flask-oms-broken.*failed to load"):
        start(tmp_path)


class MisspelledHookPlugin:
    __name__ = "typo_host_plugin"

    @hookimpl
    def on_order_place(self, order):  # the hook is on_order_placed
        pass


class WrongArgumentPlugin:
    __name__ = "wrong_args_host_plugin"

    @hookimpl
    def on_payment_recorded(self, order, pament):
        pass


@pytest.mark.parametrize("plugin, name", [
    (MisspelledHookPlugin(), "typo_host_plugin"),
    (WrongArgumentPlugin(), "wrong_args_host_plugin"),
])
def test_invalid_hookimpl_of_a_host_plugin_stops_start_up(tmp_path, plugin, name):
    with pytest.raises(PluginError, match=f"Plugin '{name}' is invalid"):
        start(tmp_path, extra_plugins=[plugin])


class HalfCarrier:
    """Has an id and a label, but none of the carrier methods."""

    id = "half"
    label = "Half a carrier"


class HalfCarrierPlugin:
    __name__ = "half_carrier_plugin"

    @hookimpl
    def register_carriers(self):
        return [HalfCarrier()]


def test_object_missing_protocol_attributes_is_refused_naming_the_plugin(tmp_path):
    with pytest.raises(PluginError) as info:
        start(tmp_path, extra_plugins=[HalfCarrierPlugin()])
    message = str(info.value)
    assert "'half_carrier_plugin'" in message
    for attribute in ("manual", "services", "create_shipment", "tracking_url", "parse_webhook"):
        assert attribute in message


class NotAListPlugin:
    __name__ = "not_a_list_plugin"

    @hookimpl
    def register_forecasters(self):
        from oms_core.default_plugins.seasonal_naive import SeasonalNaive

        return SeasonalNaive()  # should be [SeasonalNaive()]


class RaisingPlugin:
    __name__ = "raising_plugin"

    @hookimpl
    def register_payment_gateways(self):
        raise RuntimeError("no config for my gateway")


@pytest.mark.parametrize("plugin, expected", [
    (NotAListPlugin(), "'not_a_list_plugin': register_forecasters must return a list"),
    (RaisingPlugin(), "'raising_plugin' failed in register_payment_gateways.*no config"),
])
def test_registration_hook_misbehaving_is_named(tmp_path, plugin, expected):
    with pytest.raises(PluginError, match=expected):
        start(tmp_path, extra_plugins=[plugin])


def test_an_object_without_an_id_is_refused():
    class Plugin:
        __name__ = "no_id_plugin"

        @hookimpl
        def register_forecasters(self):
            from oms_core.default_plugins.seasonal_naive import SeasonalNaive

            forecaster = SeasonalNaive()
            forecaster.id = ""
            return [forecaster]

    with pytest.raises(PluginError, match="'no_id_plugin' registered a forecaster without an id"):
        load_plugins(extra_plugins=[Plugin()])


# ------------------------------------------------------------------ listing


def test_flask_oms_plugins_lists_plugins_with_versions_and_hooks(app, runner):
    result = runner.invoke(args=["oms", "plugins"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name in DEFAULT_PLUGINS:
        hook = {"manual_payment": "register_payment_gateways", "manual_carrier": "register_carriers",
                "seasonal_naive": "register_forecasters"}[name]
        assert f"{name} {oms_core.__version__} ({DISTRIBUTION_NAME}, built in): {hook}" in lines
    for registered in ("payment bank_transfer: Bank transfer", "payment cash_on_delivery",
                       "carrier manual:", "forecaster seasonal_naive:"):
        assert any(registered in line for line in lines), registered


# ------------------------------------------------------------------ the contract kit


def broken(obj, **changes):
    """A copy of a working plugin object with some attributes replaced."""
    cls = type(f"Broken{type(obj).__name__}", (), {})
    clone = cls()
    for name in ("id", "label", "pays_on_delivery", "manual", "verify_payment", "parse_webhook",
                 "services", "create_shipment", "tracking_url", "forecast", "webhook_auth",
                 "required_settings"):
        if hasattr(obj, name):
            setattr(clone, name, getattr(obj, name))
    for name, value in changes.items():
        setattr(clone, name, value)
    return clone


def test_contracts_pass_for_the_default_plugins():
    """(Webhook signatures are checked in tests/test_testing_kit.py: these take none.
    Installed plugins run the contract in their own tests, with a signed delivery.)"""
    from oms_core.testing import contracts

    registry = load_plugins(use_entry_points=False)  # installed plugins check theirs in their own tests
    for gateway in registry.gateways.values():
        contracts.check_payment_gateway(gateway)
    for carrier in registry.carriers.values():
        contracts.check_carrier(carrier)
    for forecaster in registry.forecasters.values():
        contracts.check_forecaster(forecaster)


@pytest.mark.parametrize("changes, complaint", [
    (dict(id="bank transfer"), "must be a slug"),
    (dict(label=""), "label"),
    (dict(pays_on_delivery="no"), "pays_on_delivery must be a bool"),
    (dict(verify_payment=lambda request: PaymentResult.success()),
     "a payment over the balance was accepted"),
    (dict(required_settings="api_key"), "required_settings must be a list"),
    (dict(webhook_auth="signed"), "webhook_auth must be one of secret, none, custom"),
])
def test_the_gateway_contract_catches_mistakes(changes, complaint):
    from oms_core.testing.contracts import check_payment_gateway
    from oms_core.default_plugins.manual_payment import BANK_TRANSFER

    with pytest.raises(AssertionError, match=complaint):
        check_payment_gateway(broken(BANK_TRANSFER, **changes))


@pytest.mark.parametrize("changes, complaint", [
    (dict(manual=1), "manual must be a bool"),
    (dict(services=lambda: []), "services"),
    (dict(tracking_url=lambda number, service="": f"http://track.example/{number}"), "https"),
    (dict(create_shipment=lambda request: CarrierResult(ok=True)),
     "must return a tracking number"),
])
def test_the_carrier_contract_catches_mistakes(changes, complaint):
    from oms_core.testing.contracts import check_carrier
    from oms_core.default_plugins.manual_carrier import ManualCarrier

    with pytest.raises(AssertionError, match=complaint):
        check_carrier(broken(ManualCarrier(), **changes))


def test_the_forecaster_contract_catches_an_interval_that_misses_the_point():
    from oms_core.protocols import SeriesForecast
    from oms_core.testing.contracts import check_forecaster
    from oms_core.default_plugins.seasonal_naive import SeasonalNaive

    def forecast(series, horizon, season_length, level=0.8):
        return {k: SeriesForecast([1.0] * horizon, [2.0] * horizon, [3.0] * horizon) for k in series}

    with pytest.raises(AssertionError, match="interval does not contain"):
        check_forecaster(broken(SeasonalNaive(), forecast=forecast))
