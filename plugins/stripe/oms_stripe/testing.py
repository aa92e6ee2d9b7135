"""A local stand-in for Stripe, for tests and the offline demo (nothing may call the
real Stripe from here).

    with FakeStripe(secret_key="sk_test_1", webhook_secret="whsec_1",
                    webhook_url="http://127.0.0.1:5000/oms/webhooks/payments/stripe") as fake:
        gateway = StripeGateway("sk_test_1", api_base=fake.api_base)

It answers the calls the plugin makes, as the SDK sends them (form-encoded bodies,
`Bearer` key, `Idempotency-Key`: the same key gives the same answer), keeps its
objects in memory, serves a hosted checkout page (GET /pay/<session>, with "Pay"
and "Pay with a declined card" buttons), and on every change makes the Stripe
event, signed the documented way with the SDK (`fake.events`, and POSTed to
`webhook_url` in order when one is set). `fail_next(n)` answers the next n API
calls with a 500, `decline_next(n)` with a card decline (402).
"""
from __future__ import annotations

import html
import itertools
import json
import queue
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qsl, urlsplit

from .events import sign

API_VERSION = "2025-10-29.clover"
SESSION_LIFETIME_SECONDS = 24 * 3600
ROUTES = [  # (method, pattern, handler name)
    ("POST", r"/v1/checkout/sessions", "create_session"),
    ("GET", r"/v1/checkout/sessions/(?P<id>[\w-]+)", "get_session"),
    ("GET", r"/v1/payment_intents/(?P<id>[\w-]+)", "get_intent"),
    ("POST", r"/v1/payment_intents/(?P<id>[\w-]+)/capture", "capture_intent"),
    ("POST", r"/v1/payment_intents/(?P<id>[\w-]+)/cancel", "cancel_intent"),
    ("POST", r"/v1/refunds", "create_refund"),
]


class StripeRefusal(Exception):
    """An API error as Stripe answers it: status, type, message, code."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str = ""):
        super().__init__(message)
        self.status, self.kind, self.code = status, kind, code

    def body(self) -> dict:
        return {"error": {"type": self.kind, "message": str(self), "code": self.code or None}}


@dataclass
class Delivery:
    event: dict
    body: bytes
    headers: dict
    status: Optional[int] = None  # the webhook_url's answer, when one is set


@dataclass
class _State:
    sessions: dict = field(default_factory=dict)
    intents: dict = field(default_factory=dict)
    charges: dict = field(default_factory=dict)
    refunds: dict = field(default_factory=dict)
    plans: dict = field(default_factory=dict)  # session id -> what its PaymentIntent will be
    replies: dict = field(default_factory=dict)  # idempotency key -> (status, body)


class FakeStripe:
    def __init__(self, *, secret_key: str = "sk_test_fake", webhook_secret: str = "whsec_fake",
                 webhook_url: Optional[str] = None, host: str = "127.0.0.1", port: int = 0):
        self.secret_key, self.webhook_secret, self.webhook_url = secret_key, webhook_secret, webhook_url
        self.state = _State()
        self.events: list[Delivery] = []
        self.api_calls: list[tuple[str, str]] = []  # (method, path) of every API call
        self._failures = self._declines = 0
        self._failure_status = 500
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._outbox: queue.Queue = queue.Queue()
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.fake = self
        self.api_base = f"http://{host}:{self._server.server_port}"
        self._threads = [threading.Thread(target=self._server.serve_forever, daemon=True),
                         threading.Thread(target=self._deliver, daemon=True)]

    # ------------------------------------------------------------------ life

    def start(self) -> "FakeStripe":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._outbox.put(None)
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeStripe":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ switches and test helpers

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        """The next `count` API calls answer `status`: 500 (an outage) or 429 (rate
        limited), both worth retrying."""
        self._failures, self._failure_status = count, status

    def decline_next(self, count: int = 1) -> None:
        """The next `count` API calls answer 402 card_declined (a refusal)."""
        self._declines = count

    def pay(self, session_id: str, *, declined: bool = False) -> dict:
        """What the customer's "Pay" button does; returns the session."""
        with self._lock:
            return self._pay(self.state.sessions[session_id], declined)

    def expire(self, session_id: str) -> dict:
        """Stripe expires an unpaid session (after 24 h, or when expired by the API)."""
        with self._lock:
            session = self.state.sessions[session_id]
            session.update(status="expired")
            self._emit("checkout.session.expired", session)
            return session

    def dispute(self, intent_id: str, reason: str = "fraudulent") -> dict:
        """The cardholder's bank disputes the payment's charge."""
        with self._lock:
            intent = self.state.intents[intent_id]
            charge = self.state.charges[intent["latest_charge"]]
            charge["disputed"] = True
            dispute = {"id": self._id("dp"), "object": "dispute", "amount": charge["amount_captured"],
                       "currency": charge["currency"], "charge": charge["id"], "payment_intent": intent_id,
                       "reason": reason, "status": "needs_response", "metadata": {},
                       "created": int(time.time()), "livemode": False}
            self._emit("charge.dispute.created", dispute)
            return dispute

    def signed(self, event: dict, *, timestamp: Optional[int] = None) -> tuple[bytes, dict]:
        """An event's body and the Stripe-Signature header, as Stripe would send them."""
        body = json.dumps(event, indent=2).encode()
        return body, sign(body, self.webhook_secret, timestamp=timestamp)

    # ------------------------------------------------------------------ the API

    def handle_api(self, method: str, path: str, headers, form: dict) -> tuple[int, dict]:
        with self._lock:
            self.api_calls.append((method, path))
            if headers.get("Authorization") != f"Bearer {self.secret_key}":
                return 401, StripeRefusal(401, "Invalid API Key provided.").body()
            if self._failures:
                self._failures -= 1
                if self._failure_status == 429:
                    return 429, StripeRefusal(429, "Too many requests.", "rate_limit_error", "rate_limit").body()
                return 500, StripeRefusal(500, "An unexpected error occurred.", "api_error").body()
            if self._declines:
                self._declines -= 1
                return 402, StripeRefusal(402, "Your card was declined.", "card_error", "card_declined").body()
            key = headers.get("Idempotency-Key")
            if method == "POST" and key in self.state.replies:
                return self.state.replies[key]  # Stripe replays the first answer to a key
            for route_method, pattern, name in ROUTES:
                match = re.fullmatch(pattern, path)
                if match and route_method == method:
                    try:
                        answer = 200, getattr(self, name)(form, **match.groupdict())
                    except StripeRefusal as exc:
                        answer = exc.status, exc.body()
                    except KeyError as exc:
                        answer = 404, StripeRefusal(404, f"No such object: {exc}", code="resource_missing").body()
                    break
            else:
                answer = 404, StripeRefusal(404, f"Unrecognized request URL ({method}: {path}).").body()
            if method == "POST" and key:
                self.state.replies[key] = answer
            return answer

    def create_session(self, form: dict) -> dict:
        item = form["line_items"]["0"]
        price = item["price_data"]
        amount = int(price["unit_amount"]) * int(item.get("quantity", 1))
        if amount < 1:
            raise StripeRefusal(400, "The amount must be at least 1.", code="amount_too_small")
        session_id = self._id("cs_test")
        intent_data = form.get("payment_intent_data", {})
        session = {
            "id": session_id, "object": "checkout.session", "mode": form.get("mode", "payment"),
            "amount_total": amount, "currency": price["currency"], "customer_email": form.get("customer_email"),
            "client_reference_id": form.get("client_reference_id"), "metadata": form.get("metadata", {}),
            "payment_intent": None, "payment_status": "unpaid", "status": "open",
            "success_url": form["success_url"], "cancel_url": form["cancel_url"],
            "url": f"{self.api_base}/pay/{session_id}", "created": int(time.time()),
            "expires_at": int(time.time()) + SESSION_LIFETIME_SECONDS, "livemode": False,
        }
        self.state.sessions[session_id] = session
        self.state.plans[session_id] = {
            "metadata": intent_data.get("metadata", {}), "description": intent_data.get("description"),
            "capture_method": intent_data.get("capture_method", "automatic_async"),
            "name": price["product_data"]["name"]}
        return session

    def get_session(self, form: dict, id: str) -> dict:
        session = self.state.sessions[id]
        if "payment_intent" in form.get("expand", {}).values() and session["payment_intent"]:
            return {**session, "payment_intent": self.state.intents[session["payment_intent"]]}
        return session

    def get_intent(self, form: dict, id: str) -> dict:
        return self.state.intents[id]

    def capture_intent(self, form: dict, id: str) -> dict:
        intent = self.state.intents[id]
        if intent["status"] != "requires_capture":
            raise StripeRefusal(400, "This PaymentIntent could not be captured because it has a status of "
                                f"{intent['status']}.", code="payment_intent_unexpected_state")
        amount = int(form.get("amount_to_capture", intent["amount_capturable"]))
        if not 0 < amount <= intent["amount_capturable"]:
            raise StripeRefusal(400, "The amount to capture must be at most the amount capturable.",
                                code="amount_too_large")
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self.state.charges[intent["latest_charge"]].update(captured=True, amount_captured=amount)
        self._emit("payment_intent.succeeded", intent)
        return intent

    def cancel_intent(self, form: dict, id: str) -> dict:
        intent = self.state.intents[id]
        if intent["status"] in ("succeeded", "canceled"):
            raise StripeRefusal(400, "You cannot cancel this PaymentIntent because it has a status of "
                                f"{intent['status']}.", code="payment_intent_unexpected_state")
        intent.update(status="canceled", amount_capturable=0, cancellation_reason="requested_by_customer")
        self._emit("payment_intent.canceled", intent)
        return intent

    def create_refund(self, form: dict) -> dict:
        intent = self.state.intents[form["payment_intent"]]
        if intent["status"] != "succeeded":
            raise StripeRefusal(400, f"This PaymentIntent has a status of {intent['status']}; "
                                "only a succeeded one can be refunded.", code="charge_not_refundable")
        charge = self.state.charges[intent["latest_charge"]]
        left = charge["amount_captured"] - charge["amount_refunded"]
        amount = int(form.get("amount", left))
        if not 0 < amount <= left:
            raise StripeRefusal(400, f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                                f"({left})", code="amount_too_large")
        refund = {"id": self._id("re"), "object": "refund", "amount": amount, "currency": charge["currency"],
                  "charge": charge["id"], "payment_intent": intent["id"], "status": "succeeded",
                  "metadata": form.get("metadata", {}), "reason": form.get("reason"), "created": int(time.time())}
        self.state.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        charge["refunds"]["data"].insert(0, refund)
        self._emit("charge.refunded", charge)
        return refund

    # ------------------------------------------------------------------ the hosted page

    def checkout_page(self, session_id: str) -> str:
        session = self.state.sessions[session_id]
        amount = f"{session['amount_total'] / 100:.2f} {session['currency'].upper()}"
        name = self.state.plans[session_id]["name"]
        if session["status"] != "open":
            body = f"<p>This checkout is {html.escape(session['status'])}.</p>"
        else:
            body = (f'<form method="post"><button name="card" value="ok">Pay {html.escape(amount)}</button> '
                    '<button name="card" value="declined">Pay with a declined card</button></form>'
                    f'<p><a href="{html.escape(session["cancel_url"])}">Back to the shop</a></p>')
        return (f"<!doctype html><title>Stripe test checkout</title><h1>{html.escape(name)}</h1>"
                f"<p>{html.escape(amount)} &middot; test mode (a local Stripe stand-in)</p>{body}")

    def _pay(self, session: dict, declined: bool) -> dict:
        if session["status"] != "open":
            return session
        plan = self.state.plans[session["id"]]
        manual = plan["capture_method"] == "manual"
        intent = self.state.intents.get(session["payment_intent"]) or self._new_intent(session, plan)
        if declined:
            intent.update(status="requires_payment_method", last_payment_error={
                "type": "card_error", "code": "card_declined", "message": "Your card was declined."})
            self._emit("payment_intent.payment_failed", intent)
            return session
        charge = self._new_charge(intent, captured=not manual)
        intent.update(last_payment_error=None, latest_charge=charge["id"])
        if manual:
            intent.update(status="requires_capture", amount_capturable=intent["amount"])
            self._emit("payment_intent.amount_capturable_updated", intent)
        else:
            intent.update(status="succeeded", amount_received=intent["amount"])
            self._emit("payment_intent.succeeded", intent)
        session.update(status="complete", payment_status="unpaid" if manual else "paid")
        self._emit("checkout.session.completed", session)
        return session

    def _new_intent(self, session: dict, plan: dict) -> dict:
        intent = {"id": self._id("pi"), "object": "payment_intent", "amount": session["amount_total"],
                  "amount_capturable": 0, "amount_received": 0, "currency": session["currency"],
                  "capture_method": plan["capture_method"], "metadata": dict(plan["metadata"]),
                  "description": plan["description"], "status": "requires_payment_method",
                  "latest_charge": None, "last_payment_error": None, "cancellation_reason": None,
                  "created": int(time.time()), "livemode": False}
        self.state.intents[intent["id"]] = intent
        session["payment_intent"] = intent["id"]
        return intent

    def _new_charge(self, intent: dict, *, captured: bool) -> dict:
        charge = {"id": self._id("ch"), "object": "charge", "amount": intent["amount"],
                  "amount_captured": intent["amount"] if captured else 0, "amount_refunded": 0,
                  "captured": captured, "currency": intent["currency"], "payment_intent": intent["id"],
                  "metadata": dict(intent["metadata"]), "paid": True, "refunded": False, "disputed": False,
                  "status": "succeeded", "created": int(time.time()), "livemode": False,
                  # Listed as an expanded charge shows them (older API versions always did).
                  "refunds": {"object": "list", "data": [], "has_more": False}}
        self.state.charges[charge["id"]] = charge
        return charge

    # ------------------------------------------------------------------ events

    def _emit(self, kind: str, obj: dict) -> None:
        event = {"id": self._id("evt"), "object": "event", "api_version": API_VERSION,
                 "created": int(time.time()), "livemode": False, "pending_webhooks": 1, "type": kind,
                 "data": {"object": json.loads(json.dumps(obj))}, "request": {"id": None}}
        body, headers = self.signed(event)
        delivery = Delivery(event, body, headers)
        self.events.append(delivery)
        if self.webhook_url:
            self._outbox.put(delivery)

    def _deliver(self) -> None:
        """POST each event to webhook_url in the order made, signed when sent."""
        while (delivery := self._outbox.get()) is not None:
            body, headers = self.signed(delivery.event)
            request = urllib.request.Request(self.webhook_url, data=body, method="POST",
                                             headers={**headers, "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    delivery.status = response.status
            except urllib.error.HTTPError as exc:
                delivery.status = exc.code
            except OSError:
                delivery.status = 0

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}{time.monotonic_ns() % 10 ** 8:08d}"


class _Handler(BaseHTTPRequestHandler):
    """Routes to the fake: /v1/... is the API, /pay/<id> the hosted page."""

    server_version = "FakeStripe/1"

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        fake: FakeStripe = self.server.fake
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        pairs = parse_qsl(self.rfile.read(length).decode() if length else url.query, keep_blank_values=True)
        page = re.fullmatch(r"/pay/([\w-]+)", url.path)
        if page:
            return self._page(fake, page.group(1), method, dict(pairs))
        status, answer = fake.handle_api(method, url.path, self.headers, nested(pairs))
        self._send(status, json.dumps(answer).encode(), "application/json")

    def _page(self, fake: FakeStripe, session_id: str, method: str, form: dict) -> None:
        with fake._lock:
            session = fake.state.sessions.get(session_id)
            if session is None:
                return self._send(404, b"No such checkout.", "text/plain")
            if method == "POST":
                fake._pay(session, declined=form.get("card") == "declined")
                if session["status"] == "complete":
                    self.send_response(303)
                    target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    return self.end_headers()
            page = fake.checkout_page(session_id)
            if session["payment_intent"] and fake.state.intents[session["payment_intent"]]["last_payment_error"]:
                page += "<p role=\"alert\">Your card was declined. Try another card.</p>"
        self._send(200, page.encode(), "text/html; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def nested(pairs) -> dict:
    """Stripe's form encoding back into dicts: `a[b][0][c]=1` -> {"a": {"b": {"0": {"c": "1"}}}}
    (list indexes stay keys: the fake reads them as such)."""
    tree: dict = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if parts:
            node[parts[-1]] = value
    return tree
