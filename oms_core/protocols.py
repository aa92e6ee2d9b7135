"""The typed contracts plugin objects follow, and the values they exchange with the core.

Gateways and carriers return a result object for expected failures (declined,
carrier down, bad signature) and raise only for programming errors. They never
touch the database: the core records what they return.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Iterator, Mapping, Optional, Protocol, Sequence, runtime_checkable

# ----------------------------------------------------------------- payments


@dataclass(frozen=True)
class PaymentRequest:
    """A payment staff (or a checkout) want to record against an order."""

    order_id: int
    order_number: str
    amount_minor: int
    currency: str
    order_currency: str
    balance_minor: int
    reference: str = ""


# A payment's own states (docs/architecture.md, the payment machine). A gateway
# reports the state of its own payment object; the core keeps the furthest one.
INTENT_CREATED = "intent_created"  # started: hosted checkout or client secret handed out
AUTHORIZED = "authorized"  # money held, not taken (capture later, or void)
CAPTURED = "captured"  # money taken
PARTIALLY_REFUNDED = "partially_refunded"
REFUNDED = "refunded"
FAILED = "failed"  # declined or abandoned; the customer may try again
VOIDED = "voided"  # an authorization or intent cancelled before capture
DISPUTED = "disputed"  # the cardholder's bank took the money back for review
PAYMENT_STATES = (INTENT_CREATED, AUTHORIZED, CAPTURED, PARTIALLY_REFUNDED, REFUNDED, FAILED, VOIDED,
                  DISPUTED)

# Refund states, as the gateway reports them.
REFUND_PENDING = "pending"
REFUND_SUCCEEDED = "succeeded"
REFUND_FAILED = "failed"
REFUND_STATES = (REFUND_PENDING, REFUND_SUCCEEDED, REFUND_FAILED)

# When a gateway takes the money it authorized: the gateway's `capture` setting.
CAPTURE_NOW = "now"
CAPTURE_ON_SHIP = "on_ship"
CAPTURE_MODES = (CAPTURE_NOW, CAPTURE_ON_SHIP)


@dataclass(frozen=True)
class PaymentResult:
    """The answer to verify, capture or void. `retryable` marks a failure worth
    trying again (the gateway was down or timed out), as opposed to a refusal."""

    ok: bool
    error: Optional[str] = None
    external_id: Optional[str] = None
    state: Optional[str] = None  # the payment object's state after the call, when known
    retryable: bool = False

    @classmethod
    def success(cls, external_id: Optional[str] = None, state: Optional[str] = None) -> "PaymentResult":
        return cls(ok=True, external_id=external_id, state=state)

    @classmethod
    def failure(cls, error: str, *, retryable: bool = False) -> "PaymentResult":
        return cls(ok=False, error=error, retryable=retryable)


@dataclass(frozen=True)
class StartPaymentRequest:
    """Start taking a card (or other online) payment for an order's balance."""

    order_id: int
    order_number: str
    amount_minor: int
    currency: str
    idempotency_key: str  # the same key starts the same payment, never a second one
    customer_email: str
    success_url: str  # where the gateway sends the customer back after paying
    cancel_url: str  # ... and after giving up
    capture: str = CAPTURE_NOW  # one of CAPTURE_MODES
    description: str = ""


@dataclass(frozen=True)
class PaymentStart:
    """A started payment: a hosted page to send the customer to, or a client secret
    for an embedded form. `external_id` is the gateway's object for this attempt."""

    ok: bool
    error: Optional[str] = None
    external_id: Optional[str] = None
    redirect_url: Optional[str] = None
    client_secret: Optional[str] = None
    expires_at: Optional[datetime] = None
    retryable: bool = False

    @classmethod
    def failure(cls, error: str, *, retryable: bool = False) -> "PaymentStart":
        return cls(ok=False, error=error, retryable=retryable)


@dataclass(frozen=True)
class CaptureRequest:
    payment_external_id: str
    amount_minor: int
    currency: str
    idempotency_key: str


@dataclass(frozen=True)
class VoidRequest:
    payment_external_id: str
    idempotency_key: str


@dataclass(frozen=True)
class RefundRequest:
    payment_external_id: str
    amount_minor: int
    currency: str
    idempotency_key: str  # a retried refund with the same key is the same refund
    reason: str = ""


@dataclass(frozen=True)
class RefundResult:
    ok: bool
    error: Optional[str] = None
    external_id: Optional[str] = None
    state: str = REFUND_SUCCEEDED  # one of REFUND_STATES
    retryable: bool = False

    @classmethod
    def failure(cls, error: str, *, retryable: bool = False) -> "RefundResult":
        return cls(ok=False, error=error, state=REFUND_FAILED, retryable=retryable)


@dataclass(frozen=True)
class GatewayRefund:
    """A refund as the gateway's payment object lists it."""

    external_id: str
    amount_minor: int
    state: str = REFUND_SUCCEEDED


@dataclass(frozen=True)
class GatewayEvent:
    """What a gateway's webhook says about one of its payment objects. `event_id`
    makes it idempotent; `state` and the amounts are the object's as of the event,
    so applying events in any order, or twice, ends in the same place."""

    event_id: str
    order_id: Optional[int]  # None when the object carries no order: matched by its ids
    amount_minor: int  # the payment's amount (authorized or captured)
    currency: str
    external_id: Optional[str] = None  # the gateway's payment object (e.g. a PaymentIntent)
    state: str = CAPTURED  # one of PAYMENT_STATES
    amount_refunded_minor: int = 0
    refunds: Sequence[GatewayRefund] = ()
    checkout_id: Optional[str] = None  # the object that started it (e.g. a Checkout Session)
    occurred_at: Optional[datetime] = None
    reason: str = ""  # the gateway's words for a failure or dispute


@dataclass(frozen=True)
class FetchPaymentRequest:
    """Ask a gateway what one of its payment objects is now (its webhook is late):
    the ids the core holds for the payment, and its order."""

    external_id: Optional[str]  # the gateway's payment object, when known
    checkout_id: Optional[str]  # the object that started it (e.g. a Checkout Session)
    order_id: int


@dataclass(frozen=True)
class FetchPaymentResult:
    """The object's state as a GatewayEvent, applied like a webhook's. Its event_id
    is made from the state (`sync_event_id`), so asking twice is a duplicate."""

    ok: bool
    event: Optional[GatewayEvent] = None
    error: Optional[str] = None
    retryable: bool = False  # the gateway was down or timed out: ask again later

    @classmethod
    def failure(cls, error: str, *, retryable: bool = False) -> "FetchPaymentResult":
        return cls(ok=False, error=error, retryable=retryable)


def sync_event_id(object_id: str, state: str, amount_refunded_minor: int = 0) -> str:
    """The synthetic, deterministic event id of a fetched state: the same state
    fetched again is the same event."""
    return f"sync:{object_id}:{state}:{amount_refunded_minor}"


# How a gateway's or carrier's webhooks are authenticated: its `webhook_auth`
# attribute (read with `webhook_auth(obj)`; docs/plugins.md says more).
WEBHOOK_AUTH_SECRET = "secret"  # default: the plugin checks a signature made with its
# `webhook_secret` setting; the core refuses every delivery while none is configured.
WEBHOOK_AUTH_NONE = "none"  # no webhooks: the core refuses every delivery unread.
WEBHOOK_AUTH_CUSTOM = "custom"  # the plugin authenticates another way it documents
# (e.g. it fetches the event back from the sender's API); no secret is required.
WEBHOOK_AUTH_KINDS = (WEBHOOK_AUTH_SECRET, WEBHOOK_AUTH_NONE, WEBHOOK_AUTH_CUSTOM)


def webhook_auth(obj) -> str:
    return getattr(obj, "webhook_auth", WEBHOOK_AUTH_SECRET)


@dataclass(frozen=True)
class WebhookResult:
    ok: bool
    error: Optional[str] = None
    events: Sequence = ()


class WebhookHeaders(Mapping[str, str]):
    """The headers `parse_webhook` receives: looked up case-insensitively, as HTTP
    header names are (`headers["x-signature"]` and `headers.get("X-Signature")` find
    the same header), whatever mapping or pairs the caller had."""

    def __init__(self, headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()):
        pairs = headers.items() if hasattr(headers, "items") else headers
        self._by_lower = {str(name).lower(): (str(name), str(value)) for name, value in pairs}

    def __getitem__(self, name: str) -> str:
        if not isinstance(name, str):
            raise KeyError(name)
        return self._by_lower[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._by_lower.values())

    def __len__(self) -> int:
        return len(self._by_lower)

    def __repr__(self) -> str:
        return f"WebhookHeaders({dict(self.items())!r})"


@runtime_checkable
class PaymentGateway(Protocol):
    """Required: id, label, pays_on_delivery, parse_webhook. Optional capabilities,
    each offered only where the gateway has the method (PAYMENT_CAPABILITIES):
    `verify_payment` (staff record money that arrived offline: it enters captured),
    `start_payment`, `capture`, `void`, `refund` and `fetch_payment` (the core asks
    for a started payment's state when its webhook is late)."""

    id: str
    label: str
    pays_on_delivery: bool  # may the order ship before it is paid (cash on delivery)

    def parse_webhook(
        self, body: bytes, headers: Mapping[str, str], secret: Optional[str]
    ) -> WebhookResult:
        """Check the signature and turn the body into GatewayEvents."""

    # Optional (see the class docstring):
    #   verify_payment(PaymentRequest) -> PaymentResult
    #   start_payment(StartPaymentRequest) -> PaymentStart
    #   capture(CaptureRequest) -> PaymentResult
    #   void(VoidRequest) -> PaymentResult
    #   refund(RefundRequest) -> RefundResult
    #   fetch_payment(FetchPaymentRequest) -> FetchPaymentResult


PAYMENT_CAPABILITIES = ("verify_payment", "start_payment", "capture", "void", "refund", "fetch_payment")


def supports(obj, capability: str) -> bool:
    """Whether a plugin object offers an optional capability (a callable of that name)."""
    return callable(getattr(obj, capability, None))


# ----------------------------------------------------------------- carriers

TRACKING_STATUSES = (
    "unknown", "pre_transit", "in_transit", "out_for_delivery", "available_for_pickup",
    "delivery_attempted", "exception", "returned_to_sender", "delivered", "cancelled",
    "expired",
)


@dataclass(frozen=True)
class CarrierService:
    code: str
    label: str
    # The company that carries the parcel, when it is not the carrier plugin's own
    # label (a manual or multi-carrier plugin): what staff, emails and the public
    # page show.
    carrier_name: str = ""


@dataclass(frozen=True)
class Address:
    """A postal address as carriers want it (the shape of karrio's and EasyPost's)."""

    name: str
    line1: str
    city: str
    postal_code: str
    country: str  # ISO 3166-1 alpha-2
    company: str = ""
    line2: str = ""
    state: str = ""  # state or province code, where the country has them
    phone: str = ""  # sent only where the carrier needs it
    email: str = ""


@dataclass(frozen=True)
class Parcel:
    """One package: its weight (products plus packaging) and, from the packaging
    preset staff picked, its outer dimensions."""

    weight_grams: int
    length_mm: int = 0
    width_mm: int = 0
    height_mm: int = 0
    packaging: str = ""  # the preset's code, when one was picked


@dataclass(frozen=True)
class ContentLine:
    """What is in the parcel, for the carrier and for customs outside the customs union."""

    sku: str
    description: str
    quantity: int
    unit_value_minor: int
    currency: str
    weight_grams: int = 0  # per unit
    hs_code: str = ""
    origin_country: str = ""


@dataclass(frozen=True)
class ShipmentOptions:
    signature: bool = False
    insurance_minor: int = 0  # 0: not insured
    currency: str = ""


LABEL_FORMATS = ("PDF", "ZPL", "PNG")


@dataclass(frozen=True)
class Label:
    data: bytes
    format: str = "PDF"  # one of LABEL_FORMATS


@dataclass(frozen=True)
class ShipmentRequest:
    """Book one parcel (buy its label). A shipment in the OMS is one parcel; an
    order in two parcels is two requests. Simple carriers read only the first fields."""

    shipment_id: int
    order_number: str
    service: str
    idempotency_key: str
    tracking_number: Optional[str] = None  # typed by staff, for manual carriers
    destination_country: str = ""
    weight_grams: int = 0
    ship_from: Optional[Address] = None
    ship_to: Optional[Address] = None
    parcel: Optional[Parcel] = None
    contents: Sequence[ContentLine] = ()
    options: ShipmentOptions = ShipmentOptions()
    label_format: str = "PDF"
    is_return: bool = False  # a return label: ship_from is the customer, ship_to the shop
    rate_id: Optional[str] = None  # the quote staff picked, when the carrier gave one


@dataclass(frozen=True)
class CarrierResult:
    ok: bool
    error: Optional[str] = None
    external_id: Optional[str] = None
    tracking_number: Optional[str] = None
    tracking_url: Optional[str] = None
    label: Optional[Label] = None
    cost_minor: Optional[int] = None
    currency: Optional[str] = None
    retryable: bool = False  # the carrier was down or timed out: worth trying again

    @classmethod
    def failure(cls, error: str, *, retryable: bool = False) -> "CarrierResult":
        return cls(ok=False, error=error, retryable=retryable)


@dataclass(frozen=True)
class RateRequest:
    ship_from: Address
    ship_to: Address
    parcel: Parcel
    contents: Sequence[ContentLine] = ()
    options: ShipmentOptions = ShipmentOptions()
    services: Sequence[str] = ()  # only these service codes; empty: every service


@dataclass(frozen=True)
class Rate:
    service: str  # one of the carrier's CarrierService codes
    amount_minor: int
    currency: str
    label: str = ""
    estimated_days: Optional[int] = None
    rate_id: Optional[str] = None  # the carrier's quote, handed back when buying
    carrier_name: str = ""


@dataclass(frozen=True)
class RatesResult:
    ok: bool
    rates: Sequence[Rate] = ()
    error: Optional[str] = None
    retryable: bool = False


@dataclass(frozen=True)
class VoidLabelRequest:
    shipment_id: int
    idempotency_key: str
    external_id: Optional[str] = None
    tracking_number: Optional[str] = None


@dataclass(frozen=True)
class TrackingResult:
    """The answer to polling: updates for the numbers asked (any order, several per
    number); numbers the carrier does not know are simply absent."""

    ok: bool
    updates: Sequence["TrackingUpdate"] = ()
    error: Optional[str] = None
    retryable: bool = False


@dataclass(frozen=True)
class TrackingUpdate:
    """One carrier event, raw code and message kept, status normalised."""

    tracking_number: str
    status: str
    occurred_at: datetime
    raw_code: str = ""
    message: str = ""
    location: str = ""
    # The carrier's own id of this event, when it sends one: duplicates are told by it.
    event_id: Optional[str] = None


@runtime_checkable
class Carrier(Protocol):
    """Required: id, label, manual, services, create_shipment, tracking_url,
    parse_webhook. Optional capabilities, offered in the back-office only where the
    carrier has the method (CARRIER_CAPABILITIES): `rates(RateRequest) ->
    RatesResult`, `void_label(VoidLabelRequest) -> CarrierResult`,
    `create_return_label(ShipmentRequest) -> CarrierResult` (is_return set) and
    `track(numbers) -> TrackingResult` (polling, for carriers without webhooks; at
    most `track_batch_size` numbers per call, default 50)."""

    id: str
    label: str
    manual: bool  # staff type the tracking number; nothing is booked remotely

    def services(self) -> Sequence[CarrierService]:
        """The services staff can pick from."""

    def create_shipment(self, request: ShipmentRequest) -> CarrierResult:
        """Book the parcel and buy its label (called by the outbox worker, with an
        idempotency key: the same key must never buy a second label)."""

    def tracking_url(self, tracking_number: str, service: str = "") -> Optional[str]:
        """The carrier's own public tracking page, when known."""

    def parse_webhook(
        self, body: bytes, headers: Mapping[str, str], secret: Optional[str]
    ) -> WebhookResult:
        """Check the signature and turn the body into TrackingUpdates."""


CARRIER_CAPABILITIES = ("rates", "void_label", "create_return_label", "track")


# ----------------------------------------------------------------- forecasting


@dataclass(frozen=True)
class SeriesForecast:
    point: Sequence[float]
    lower: Sequence[float]
    upper: Sequence[float]


@runtime_checkable
class Forecaster(Protocol):
    id: str
    label: str

    def forecast(
        self,
        series: Mapping[str, Sequence[float]],
        horizon: int,
        season_length: int,
        level: float = 0.8,
    ) -> Mapping[str, SeriesForecast]:
        """Forecast many series at once: per series, `horizon` points and an interval.

        The series are units sold per period (never negative), oldest first, and all
        end at the same period, the last complete one: a shorter series is a product
        that started selling later. So the season phase of step h is the same for
        every series, counted back from their common end. `level` is the interval's
        coverage (0.8: 80%); lower <= point <= upper at every step.
        """


PROTOCOL_ATTRIBUTES = {
    PaymentGateway: ("id", "label", "pays_on_delivery", "parse_webhook"),
    Carrier: ("id", "label", "manual", "services", "create_shipment", "tracking_url", "parse_webhook"),
    Forecaster: ("id", "label", "forecast"),
}


def missing_attributes(obj, protocol) -> list[str]:
    """Names the object lacks to follow the protocol (runtime_checkable checks no data)."""
    return [name for name in PROTOCOL_ATTRIBUTES[protocol] if not hasattr(obj, name)]


@dataclass
class MenuItem:
    """An entry plugins add to the back-office menu."""

    label: str
    url: str
    owner_only: bool = False
    extra: dict = field(default_factory=dict)
