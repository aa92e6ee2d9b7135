"""The Stripe gateway object: hosted Checkout, capture, void and refund through the
official SDK, and webhooks turned into GatewayEvents (oms_stripe.events).

Every call goes through a `stripe.StripeClient` of its own (never the SDK's global
`stripe.api_key`), with the core's idempotency key, so a retried call is the same
call at Stripe. The SDK is imported inside the methods: a web worker that serves
pages never loads it (tests/test_serving_imports.py).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Mapping, Optional

from oms_core.protocols import (
    CAPTURE_MODES, CAPTURE_NOW, CAPTURE_ON_SHIP, REFUND_FAILED, REFUND_PENDING, VOIDED, CaptureRequest,
    FetchPaymentRequest, FetchPaymentResult,
    PaymentResult, PaymentStart, RefundRequest, RefundResult,
    StartPaymentRequest, VoidRequest, WebhookResult,
)

from . import events

GATEWAY_ID = "stripe"
TIMEOUT_SECONDS = 20  # one HTTP call to Stripe; the customer or the outbox waits for it
MAX_NETWORK_RETRIES = 5
MAX_MESSAGE = 300
DEFAULT_NETWORK_RETRIES = 2  # the SDK's own default: safe, every call has an idempotency key


class StripeGateway:
    id = GATEWAY_ID
    label = "Card (Stripe)"
    pays_on_delivery = False  # an order ships once it is paid (or authorized, with capture on_ship)
    required_settings = ("secret_key", "webhook_secret")
    # webhook_auth is "secret" (the default): Stripe signs every delivery with the
    # endpoint's signing secret, the webhook_secret setting.

    def __init__(self, secret_key: Optional[str] = None, *, capture: str = CAPTURE_NOW,
                 api_base: Optional[str] = None, network_retries: int = DEFAULT_NETWORK_RETRIES):
        if capture not in CAPTURE_MODES:
            raise ValueError(f"capture must be one of {', '.join(CAPTURE_MODES)}, not {capture!r}")
        if api_base and not api_base.startswith(("https://", "http://")):
            raise ValueError(f"api_base must be an http(s) URL, not {api_base!r}")
        if not 0 <= network_retries <= MAX_NETWORK_RETRIES:
            raise ValueError(f"network_retries must be 0 to {MAX_NETWORK_RETRIES}, not {network_retries}")
        self.secret_key = secret_key
        self.capture_mode = capture  # the shop's choice; each StartPaymentRequest says which applies
        self.api_base = api_base.rstrip("/") if api_base else None
        self.network_retries = network_retries

    def __repr__(self) -> str:  # never the key
        return f"StripeGateway(capture={self.capture_mode!r}, api_base={self.api_base!r})"

    def _client(self):
        import stripe

        return stripe.StripeClient(
            self.secret_key or "", base_addresses={"api": self.api_base} if self.api_base else None,
            max_network_retries=self.network_retries,
            http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS))

    # ------------------------------------------------------------------ payments

    def start_payment(self, request: StartPaymentRequest) -> PaymentStart:
        """A hosted Checkout Session for the order's balance; the customer is sent
        to its URL. The same idempotency key gives back the same session."""
        if request.capture not in CAPTURE_MODES:
            return PaymentStart.failure(f"Unknown capture mode {request.capture!r}.")
        metadata = {events.ORDER_METADATA_KEY: str(request.order_id)}
        intent_data = {"metadata": metadata, "description": request.description or f"Order {request.order_number}"}
        if request.capture == CAPTURE_ON_SHIP:
            intent_data["capture_method"] = "manual"  # authorized now, captured when it ships
        params = {
            "mode": "payment",
            "line_items": [{"quantity": 1, "price_data": {
                "currency": request.currency.lower(), "unit_amount": request.amount_minor,
                "product_data": {"name": f"Order {request.order_number}"}}}],
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "client_reference_id": str(request.order_id),
            "metadata": metadata,
            "payment_intent_data": intent_data,
        }
        if request.customer_email:
            params["customer_email"] = request.customer_email
        failure, session = self._call(PaymentStart.failure, lambda client: client.v1.checkout.sessions.create(
            params=params, options={"idempotency_key": request.idempotency_key}))
        if failure:
            return failure
        if not session.get("url"):
            return PaymentStart.failure("Stripe answered without a checkout page to send the customer to.")
        expires = session.get("expires_at")
        return PaymentStart(ok=True, external_id=session["id"], redirect_url=session["url"],
                            expires_at=datetime.fromtimestamp(expires, timezone.utc) if expires else None)

    def capture(self, request: CaptureRequest) -> PaymentResult:
        """Take money an authorization holds (capture on_ship)."""
        failure, intent = self._call(PaymentResult.failure, lambda client: client.v1.payment_intents.capture(
            request.payment_external_id, params={"amount_to_capture": request.amount_minor},
            options={"idempotency_key": request.idempotency_key}))
        return failure or PaymentResult.success(external_id=intent["id"], state=events.intent_state(intent))

    def void(self, request: VoidRequest) -> PaymentResult:
        """Release an authorization (or drop an unpaid intent): PaymentIntent cancel."""
        failure, intent = self._call(PaymentResult.failure, lambda client: client.v1.payment_intents.cancel(
            request.payment_external_id, options={"idempotency_key": request.idempotency_key}))
        return failure or PaymentResult.success(external_id=intent["id"], state=VOIDED)

    def refund(self, request: RefundRequest) -> RefundResult:
        """Give money back; the same idempotency key is the same refund."""
        params = {"payment_intent": request.payment_external_id, "amount": request.amount_minor,
                  "metadata": {"oms_idempotency_key": request.idempotency_key[:500]}}
        if request.reason:
            params["metadata"]["oms_reason"] = request.reason[:500]
        failure, refund = self._call(RefundResult.failure, lambda client: client.v1.refunds.create(
            params=params, options={"idempotency_key": request.idempotency_key}))
        if failure:
            return failure
        state = events.REFUND_STATES.get(refund.get("status"), REFUND_PENDING)
        if state == REFUND_FAILED:
            return RefundResult(ok=False, external_id=refund["id"], state=REFUND_FAILED,
                                error=f"Stripe could not refund: {refund.get('failure_reason') or 'failed'}.")
        return RefundResult(ok=True, external_id=refund["id"], state=state)

    def fetch_payment(self, request: FetchPaymentRequest) -> FetchPaymentResult:
        """The payment as Stripe has it now (its webhook is late): the Checkout
        Session the OMS started, its PaymentIntent expanded, or else the PaymentIntent."""
        session_id = request.checkout_id or (request.external_id if _is_session(request.external_id) else None)
        if session_id:
            failure, found = self._call(FetchPaymentResult.failure, lambda client: client.v1.checkout.sessions.retrieve(
                session_id, params={"expand": ["payment_intent"]}))
        elif request.external_id:
            failure, found = self._call(FetchPaymentResult.failure, lambda client: client.v1.payment_intents.retrieve(
                request.external_id))
        else:
            return FetchPaymentResult.failure("The payment has no Stripe id to ask about.")
        if failure:
            return failure
        try:
            return FetchPaymentResult(ok=True, event=events.current(found))
        except (KeyError, TypeError, ValueError) as exc:
            return FetchPaymentResult.failure(f"Unreadable Stripe object: {exc!r}")

    def retrieve_intent(self, intent_id: str) -> Optional[dict]:
        """The PaymentIntent as Stripe has it now, or None when Stripe cannot say.
        Asked while a webhook waits for its answer: one try, no retries."""
        failure, intent = self._call(PaymentResult.failure, lambda client: client.v1.payment_intents.retrieve(
            intent_id, options={"max_network_retries": 0}))
        return None if failure else intent

    def _call(self, fail, call):
        """(None, answer as a dict) or (fail(reason, retryable=...), None). Stripe's
        own words for a refusal; an outage, a 5xx or a rate limit is worth retrying
        with the same idempotency key."""
        import stripe

        try:
            return None, call(self._client()).to_dict()
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            return fail(f"Stripe could not be reached: {_words(exc)}", retryable=True), None
        except stripe.APIError as exc:  # 5xx and answers it could not read
            return fail(f"Stripe failed ({exc.http_status}): {_words(exc)}", retryable=True), None
        except stripe.StripeError as exc:  # declined, invalid request, bad key: retrying will not help
            return fail(f"Stripe refused: {_words(exc)}"), None

    # ------------------------------------------------------------------ webhooks

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], secret: Optional[str]) -> WebhookResult:
        return events.parse(body, headers, secret, lookup_intent=self.retrieve_intent)


def _is_session(object_id: Optional[str]) -> bool:
    """Whether an id is a Checkout Session's (Stripe's ids start with their kind)."""
    return bool(object_id) and object_id.startswith("cs_")


def _words(error) -> str:
    """Stripe's message on one line, short enough for a timeline and a flash."""
    return " ".join(str(error.user_message or error).split())[:MAX_MESSAGE]
