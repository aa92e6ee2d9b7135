"""Offline payments: bank transfer and cash on delivery.

Staff record what arrived with its reference. Verification refuses an amount or
currency that does not fit the order's balance; partial payments are allowed.
There is no gateway to send webhooks, so `parse_webhook` refuses every call.
"""
from __future__ import annotations

from dataclasses import dataclass

from oms_core.hookspecs import hookimpl
from oms_core.money import format_amount
from oms_core.protocols import WEBHOOK_AUTH_NONE, PaymentRequest, PaymentResult, WebhookResult


@dataclass(frozen=True)
class OfflinePayment:
    id: str
    label: str
    pays_on_delivery: bool
    needs_reference: bool
    webhook_auth = WEBHOOK_AUTH_NONE  # nothing to call back: staff record what arrived

    def verify_payment(self, request: PaymentRequest) -> PaymentResult:
        if request.currency != request.order_currency:
            return PaymentResult.failure(
                f"The order is in {request.order_currency}; a payment in {request.currency} "
                "cannot be recorded against it.")
        if request.amount_minor <= 0:
            return PaymentResult.failure("The amount must be more than zero.")
        if request.amount_minor > request.balance_minor:
            return PaymentResult.failure(
                f"{format_amount(request.amount_minor, request.currency)} is more than the balance "
                f"due of {format_amount(request.balance_minor, request.order_currency)}.")
        if self.needs_reference and not request.reference.strip():
            return PaymentResult.failure("Enter the bank transfer's reference.")
        return PaymentResult.success(external_id=request.reference.strip() or None)

    def parse_webhook(self, body, headers, secret) -> WebhookResult:
        return WebhookResult(ok=False, error=f"{self.label} has no webhooks.")


BANK_TRANSFER = OfflinePayment("bank_transfer", "Bank transfer", pays_on_delivery=False,
                               needs_reference=True)
CASH_ON_DELIVERY = OfflinePayment("cash_on_delivery", "Cash on delivery", pays_on_delivery=True,
                                  needs_reference=False)


@hookimpl
def register_payment_gateways():
    return [BANK_TRANSFER, CASH_ON_DELIVERY]
