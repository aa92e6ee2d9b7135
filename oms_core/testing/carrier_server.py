"""A local HTTP carrier for tests and benchmarks: `CarrierServer` plays the carrier's
API in a thread, `HttpCarrier` is the OMS carrier plugin that talks to it.

The server behaves like a real label API where it matters: one idempotency key buys
one label (a repeated key gets the same label back), a request can be held until
the test releases it (to kill the worker in the middle of a purchase), tracking
answers come in batches, and it can fail for a while as if it were down.
"""
from __future__ import annotations

import base64
import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from oms_core.protocols import (
    WEBHOOK_AUTH_NONE,
    CarrierResult,
    CarrierService,
    Label,
    Rate,
    RatesResult,
    TrackingResult,
    TrackingUpdate,
    WebhookResult,
)


def _one_page_pdf(text: str) -> bytes:
    """A small valid one-page PDF saying `text` (with its cross-reference table)."""
    stream = f"BT /F1 24 Tf 40 380 Td ({text}) Tj ET".encode()
    objects = [b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
               b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 288 432]/Resources<</Font<</F1 5 0 R>>>>/Contents 4 0 R>>",
               b"<</Length %d>>stream\n%s\nendstream" % (len(stream), stream),
               b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# What the fake carrier sells as a label.
LABEL_PDF = _one_page_pdf("HTTP Post label")


class CarrierServer:
    """`with CarrierServer() as server:` ... `server.url`. Attributes tests set:
    `hold` (an Event cleared: bookings wait until it is set), `fail_next` (that many
    requests answer 503), `statuses` (tracking number -> status for /track)."""

    def __init__(self):
        self.labels: dict[str, dict] = {}  # idempotency key -> the label sold for it
        self.requests: list[tuple[str, dict]] = []  # (path, body) of every request
        self.statuses: dict[str, str] = {}
        self.fail_next = 0
        self.voided: set[str] = set()  # tracking numbers whose label was voided
        self.hold = threading.Event()
        self.hold.set()
        self.waiting = threading.Event()  # set when a booking is being held
        self.lock = threading.Lock()

    def __enter__(self) -> "CarrierServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                status, answer = server.answer(self.path, body)
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client is gone (killed): the label was sold all the same

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.hold.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, path: str, body: dict) -> tuple[int, dict]:
        with self.lock:
            self.requests.append((path, body))
            if self.fail_next > 0:
                self.fail_next -= 1
                return 503, {"error": "down for maintenance"}
        if path == "/shipments":
            if not self.hold.is_set():
                self.waiting.set()
                self.hold.wait()
            return 200, self._label_for(body)
        if path == "/void":
            with self.lock:
                sold = self.labels.get(body.get("booking_key", ""))
                if sold is None or self.statuses.get(sold["tracking_number"]) != "pre_transit":
                    return 200, {"ok": False, "error": "label not found or already in transit"}
                self.voided.add(sold["tracking_number"])
                return 200, {"ok": True}
        if path == "/rates":
            grams = int(body.get("weight_grams") or 0)
            return 200, {"rates": [{"service": "std", "amount_minor": 495 + grams // 100, "id": "rate_std"},
                                   {"service": "express", "amount_minor": 1295 + grams // 50, "id": "rate_exp"}]}
        if path == "/track":
            return 200, {"events": [{"number": n, "status": self.statuses[n], "id": f"{n}-{self.statuses[n]}"}
                                    for n in body.get("numbers", []) if n in self.statuses]}
        return 404, {"error": "no such endpoint"}

    def _label_for(self, body: dict) -> dict:
        with self.lock:
            key = body["idempotency_key"]
            if key not in self.labels:
                number = f"HP{len(self.labels) + 1:06d}"
                self.labels[key] = {"tracking_number": number, "id": f"shp_{number}", "cost_minor": 695,
                                    "currency": "EUR", "label": base64.b64encode(LABEL_PDF).decode()}
                self.statuses.setdefault(number, "pre_transit")
            return self.labels[key]


class HttpCarrier:
    """A carrier plugin against `CarrierServer` at `url`: labels, tracking by polling
    (no webhooks)."""

    manual = False
    webhook_auth = WEBHOOK_AUTH_NONE
    track_batch_size = 50

    def __init__(self, url: str, id: str = "httppost", label: str = "HTTP Post", timeout: float = 30.0):
        self.url, self.id, self.label, self.timeout = url.rstrip("/"), id, label, timeout

    def services(self):
        return [CarrierService("std", "Standard")]

    def _post(self, path: str, body: dict):
        import requests

        try:
            response = requests.post(self.url + path, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            return None, f"{self.label} did not answer: {exc.__class__.__name__}"
        if response.status_code >= 500:
            return None, f"{self.label} answered {response.status_code}"
        return response.json(), None

    def create_shipment(self, request):
        body = {"idempotency_key": request.idempotency_key, "service": request.service,
                "weight_grams": request.parcel.weight_grams if request.parcel else request.weight_grams,
                "to_country": request.ship_to.country if request.ship_to else request.destination_country}
        answer, error = self._post("/shipments", body)
        if answer is None:
            return CarrierResult.failure(error, retryable=True)
        return CarrierResult(ok=True, tracking_number=answer["tracking_number"], external_id=answer["id"],
                             tracking_url=self.tracking_url(answer["tracking_number"]),
                             label=Label(base64.b64decode(answer["label"]), "PDF"),
                             cost_minor=answer["cost_minor"], currency=answer["currency"])

    def void_label(self, request):
        # The fake carrier knows labels by the purchase's key: the booking key.
        booking_key = request.idempotency_key.removeprefix("void-")
        answer, error = self._post("/void", {"booking_key": booking_key})
        if answer is None:
            return CarrierResult.failure(error, retryable=True)
        return CarrierResult(ok=True) if answer["ok"] else CarrierResult.failure(answer["error"])

    def rates(self, request):
        answer, error = self._post("/rates", {"weight_grams": request.parcel.weight_grams})
        if answer is None:
            return RatesResult(ok=False, error=error, retryable=True)
        return RatesResult(ok=True, rates=[Rate(service=r["service"], amount_minor=r["amount_minor"], currency="EUR",
                                                rate_id=r["id"]) for r in answer["rates"]])

    def track(self, numbers):
        answer, error = self._post("/track", {"numbers": list(numbers)[: self.track_batch_size]})
        if answer is None:
            return TrackingResult(ok=False, error=error, retryable=True)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        return TrackingResult(ok=True, updates=[
            TrackingUpdate(tracking_number=e["number"], status=e["status"], occurred_at=now, raw_code=e["status"],
                           event_id=e["id"]) for e in answer["events"]])

    def tracking_url(self, tracking_number, service=""):
        return f"https://httppost.example/track/{tracking_number}"

    def parse_webhook(self, body, headers, secret):
        return WebhookResult(ok=False, error=f"{self.label} has no webhooks; it is polled")
