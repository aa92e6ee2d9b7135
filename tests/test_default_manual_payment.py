"""The manual payment plugin: bank transfer and cash on delivery.

Runs the OMS contract for payment gateways, then the plugin's own rules, then the
plugin inside a real OMS through the test kit's fixtures (oms_app, oms_product).
"""
from __future__ import annotations

import pytest

from oms_core.default_plugins.manual_payment import (
    BANK_TRANSFER, CASH_ON_DELIVERY, register_payment_gateways,
)
from oms_core.errors import IllegalTransition, PaymentRefused
from oms_core.protocols import PaymentRequest
from oms_core.testing.contracts import check_payment_gateway


def request(amount=500, currency="EUR", balance=1000, reference="REF-1", order_currency="EUR"):
    return PaymentRequest(order_id=1, order_number="000001", amount_minor=amount, currency=currency,
                          order_currency=order_currency, balance_minor=balance, reference=reference)


@pytest.mark.parametrize("gateway", [BANK_TRANSFER, CASH_ON_DELIVERY], ids=lambda g: g.id)
def test_contract(gateway):
    check_payment_gateway(gateway)


def test_the_hook_registers_both_methods():
    assert [g.id for g in register_payment_gateways()] == ["bank_transfer", "cash_on_delivery"]


def test_only_cash_on_delivery_pays_on_delivery():
    assert CASH_ON_DELIVERY.pays_on_delivery is True
    assert BANK_TRANSFER.pays_on_delivery is False


@pytest.mark.parametrize("reference", ["", "   "])
def test_bank_transfer_needs_a_reference(reference):
    result = BANK_TRANSFER.verify_payment(request(reference=reference))
    assert not result.ok and "reference" in result.error


def test_bank_transfer_keeps_the_reference_as_external_id():
    result = BANK_TRANSFER.verify_payment(request(reference="  NL-2024-17 "))
    assert result.ok and result.external_id == "NL-2024-17"


def test_cash_on_delivery_needs_no_reference():
    result = CASH_ON_DELIVERY.verify_payment(request(reference=""))
    assert result.ok and result.external_id is None


@pytest.mark.parametrize("gateway", [BANK_TRANSFER, CASH_ON_DELIVERY], ids=lambda g: g.id)
def test_refusals_say_why(gateway):
    assert "USD" in gateway.verify_payment(request(currency="USD")).error
    assert "more than the balance" in gateway.verify_payment(request(amount=1001)).error
    assert "more than zero" in gateway.verify_payment(request(amount=-5)).error
    assert gateway.verify_payment(request(amount=1000)).ok  # exactly the balance


def test_no_webhooks():
    result = BANK_TRANSFER.parse_webhook(b'{"paid": true}', {}, None)
    assert not result.ok and "no webhooks" in result.error and result.events == ()


# ------------------------------------------------------------ inside an OMS (test kit fixtures)


def _place(product, method, quantity=2):
    from oms_core.services.orders import NewOrder, place_order

    return place_order(NewOrder(email="ann@example.com", name="Ann", lines=[(product.sku, quantity)],
                                payment_method=method), actor="test", confirm=True)


def test_bank_transfer_in_an_oms(oms_app, oms_product):
    from oms_core.services import payments, shipments

    order = _place(oms_product, "bank_transfer")  # 2 x 12.50 EUR
    assert not order.pays_on_delivery
    with pytest.raises(PaymentRefused, match="reference"):
        payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=1000,
                                currency="EUR", reference="", actor="test")
    assert payments.payments_for(order.id) == []
    with pytest.raises(IllegalTransition, match="must be paid first"):
        shipments.create_shipment(order.id, carrier_id="manual", service="DHL",
                                  tracking_number="JD1", actor="test")
    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=1000,
                            currency="EUR", reference="T1", actor="test")
    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=1500,
                            currency="EUR", reference="T2", actor="test")
    assert (order.status, order.paid_minor, order.payment_status) == ("paid", 2500, "paid")
    assert [p.external_id for p in payments.payments_for(order.id)] == ["T1", "T2"]


def test_cash_on_delivery_ships_before_it_is_paid(oms_app, oms_product):
    from oms_core.services import payments, shipments

    order = _place(oms_product, "cash_on_delivery", quantity=1)
    assert order.pays_on_delivery
    shipments.create_shipment(order.id, carrier_id="manual", service="DHL", tracking_number="JD2",
                              actor="test")
    assert order.status == "shipped" and order.payment_status == "unpaid"
    payments.record_payment(order.id, gateway_id="cash_on_delivery", amount_minor=1250,
                            currency="EUR", reference="", actor="courier")
    assert order.payment_status == "paid" and order.status == "shipped"


def test_the_plugin_is_listed_by_the_oms(oms_runner):
    output = oms_runner.invoke(args=["oms", "plugins"]).output
    assert "manual_payment" in output and "payment bank_transfer: Bank transfer" in output
