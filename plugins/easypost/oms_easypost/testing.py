"""A local stand-in for EasyPost's API, for tests and demos: nothing reaches EasyPost.

    with EasyPostStandIn(api_key="EZTK_test") as server:
        carrier = EasyPost(api_key="EZTK_test", api_base=server.api_base)
        ...
        server.fail_next(2)                       # the next 2 API calls answer 500
        server.advance("EZ1000000001", "in_transit", "Arrived at facility")
        server.send_event(url, "EZ1000000001", secret="whsec_1")   # a signed tracker.updated

It speaks the JSON the SDK sends and reads (the shapes of EasyPost's API
reference), checks the API key (the SDK's Bearer, or Basic as with curl), and
keeps state in memory: POST /v2/shipments, GET /v2/shipments/{id or reference},
POST /v2/shipments/{id}/buy, POST /v2/shipments/{id}/refund,
GET /v2/shipments/{id}/label?file_format=, POST and GET /v2/trackers, and the
label files (/labels/...: a real one-page PDF, ZPL or PNG). `sign(body, secret)`
makes the headers EasyPost signs its webhooks with (`X-Hmac-Signature:
hmac-sha256-hex=<HMAC-SHA256 of the body>`), as the SDK's validate_webhook checks.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import math
import threading
import unicodedata
import urllib.error
import urllib.request
import uuid
import zlib
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qs, unquote, urlsplit

SIGNATURE_HEADER = "X-Hmac-Signature"
GRAMS_PER_OUNCE = 28.349523125
# (carrier, service, base price in cents, cents per ounce, days)
DEFAULT_RATES = (
    ("USPS", "GroundAdvantage", 500, 10, 5),
    ("USPS", "Priority", 800, 15, 2),
    ("UPS", "Ground", 950, 12, 4),
    ("DHLExpress", "ExpressWorldwide", 3000, 50, 3),
)
CONTENT_TYPES = {"PDF": "application/pdf", "ZPL": "application/zpl", "PNG": "image/png"}


def sign(body: bytes, secret: str) -> dict[str, str]:
    """The header EasyPost signs a webhook with, computed as the SDK checks it."""
    key = unicodedata.normalize("NFKD", secret).encode("utf-8")
    return {SIGNATURE_HEADER: "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()}


def label_pdf(text: str) -> bytes:
    """A valid one-page PDF showing `text` (ASCII), built by hand: no PDF library."""
    safe = "".join(c for c in text if c.isascii() and c.isprintable() and c not in "()\\")
    stream = f"BT /F1 18 Tf 36 200 Td ({safe}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 288 432] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def label_png() -> bytes:
    """A 1x1 white PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))
    header = (1).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff")) \
        + chunk(b"IEND", b"")


def label_file(label_format: str, tracking_code: str) -> bytes:
    if label_format == "ZPL":
        return f"^XA^FO50,50^A0N,40,40^FDEasyPost test label {tracking_code}^FS^XZ".encode()
    if label_format == "PNG":
        return label_png()
    return label_pdf(f"EasyPost test label {tracking_code}")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _detail(status: str, message: str, status_detail: str, carrier: str, when: datetime, *,
            city: str = "", country: str = "US") -> dict:
    """A TrackingDetail as EasyPost's trackers hold them."""
    return {"object": "TrackingDetail", "message": message, "description": "", "status": status,
            "status_detail": status_detail, "datetime": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "source": carrier,
            "carrier_code": "", "tracking_location": {"object": "TrackingLocation", "city": city or None,
                                                      "state": None, "country": country, "zip": None}}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class EasyPostStandIn:
    """The server, run in a thread. `requests` lists every API call made
    (method, path, JSON body or query) for tests to look at."""

    def __init__(self, api_key: str = "EZTK_test_key", rates=DEFAULT_RATES, port: int = 0):
        self.api_key = api_key
        self.rate_table = tuple(rates)
        self.shipments: dict[str, dict] = {}
        self.trackers: dict[str, dict] = {}
        self.requests: list[tuple[str, str, object]] = []
        self._failures: list[int] = []
        self._numbers = itertools.count(1000000001)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._thread: Optional[threading.Thread] = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_base(self) -> str:
        """What the plugin's `api_base` setting takes."""
        return self.base_url + "/v2"

    def start(self) -> "EasyPostStandIn":
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "EasyPostStandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        """The next `count` API calls answer `status` (EasyPost down or failing)."""
        with self._lock:
            self._failures.extend([status] * count)

    # -------------------------------------------------------------- tracking

    def advance(self, tracking_code: str, status: str, message: str = "", *, status_detail: str = "",
                city: str = "", country: str = "US", at: Optional[datetime] = None) -> dict:
        """A new scan on a tracker (made when missing); returns the tracker."""
        with self._lock:
            tracker = self._tracker(tracking_code)
            when = at or datetime.now(timezone.utc)
            tracker["tracking_details"].append(_detail(
                status, message or status.replace("_", " ").title(), status_detail or "status_update",
                tracker["carrier"], when, city=city, country=country))
            tracker.update(status=status, status_detail=status_detail or "status_update", updated_at=_now())
            return json.loads(json.dumps(tracker))

    def event(self, tracking_code: str, description: str = "tracker.updated") -> dict:
        """An Event as EasyPost posts it, holding the tracker as it is now."""
        with self._lock:
            tracker = json.loads(json.dumps(self._tracker(tracking_code)))
        return {"id": _id("evt"), "object": "Event", "mode": "test", "description": description,
                "previous_attributes": {}, "result": tracker, "status": "pending", "pending_urls": [],
                "completed_urls": [], "user_id": "user_standin", "created_at": _now(), "updated_at": _now()}

    def send_event(self, url: str, tracking_code: str, *, secret: str,
                   description: str = "tracker.updated") -> tuple[int, bytes]:
        """POST a signed Event to `url` (the shop's webhook URL); returns its status and body."""
        body = json.dumps(self.event(tracking_code, description)).encode()
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", **sign(body, secret)})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def _tracker(self, tracking_code: str, carrier: str = "USPS", shipment_id: Optional[str] = None) -> dict:
        if tracking_code not in self.trackers:
            stamp = _now()
            self.trackers[tracking_code] = {
                "id": _id("trk"), "object": "Tracker", "mode": "test", "tracking_code": tracking_code,
                "status": "unknown", "status_detail": "unknown", "carrier": carrier, "shipment_id": shipment_id,
                "tracking_details": [], "public_url": f"https://track.easypost.com/{tracking_code}",
                "created_at": stamp, "updated_at": stamp, "signed_by": None, "weight": None,
                "est_delivery_date": None, "fees": []}
        return self.trackers[tracking_code]

    # -------------------------------------------------------------- the API

    def handle(self, method: str, path: str, query: dict, body) -> tuple[int, object]:
        parts = [unquote(part) for part in path.strip("/").split("/")][1:]  # after "v2"
        if parts[:1] == ["shipments"]:
            if method == "POST" and len(parts) == 1:
                return 201, self._create(body.get("shipment") or {})
            shipment = self._find(parts[1]) if len(parts) > 1 else None
            if shipment is None:
                raise ApiError(404, "NOT_FOUND", "The requested resource could not be found.")
            action = parts[2] if len(parts) > 2 else ""
            if method == "GET" and not action:
                return 200, shipment
            if method == "POST" and action == "buy":
                return 200, self._buy(shipment, body)
            if method == "POST" and action == "refund":
                return 200, self._refund(shipment)
            if method == "GET" and action == "label":
                return 200, self._convert(shipment, (query.get("file_format") or ["PDF"])[0].upper())
        if parts[:1] == ["rates"] and len(parts) == 2 and method == "GET":
            for shipment in self.shipments.values():
                for rate in shipment["rates"]:
                    if rate["id"] == parts[1]:
                        return 200, rate
            raise ApiError(404, "NOT_FOUND", "The requested resource could not be found.")
        if parts == ["trackers"] and method == "POST":
            given = body.get("tracker") or {}
            if not given.get("tracking_code"):
                raise ApiError(422, "PARAMETER.REQUIRED", "Missing required parameter: tracking_code.")
            return 201, self._tracker(str(given["tracking_code"]), str(given.get("carrier") or "USPS"))
        if parts == ["trackers"] and method == "GET":
            codes = query.get("tracking_codes[]") or query.get("tracking_code") or []
            found = [self.trackers[code] for code in codes if code in self.trackers]
            return 200, {"trackers": found, "has_more": False}
        raise ApiError(404, "NOT_FOUND", f"No route {method} {path}.")

    def _find(self, id_or_reference: str) -> Optional[dict]:
        if id_or_reference in self.shipments:
            return self.shipments[id_or_reference]
        matches = [s for s in self.shipments.values() if s.get("reference") == id_or_reference]
        return matches[-1] if matches else None

    def _create(self, given: dict) -> dict:
        for name in ("to_address", "from_address", "parcel"):
            if not given.get(name):
                raise ApiError(422, "PARAMETER.REQUIRED", f"Missing required parameter: {name}.")
        if not given["parcel"].get("weight"):
            raise ApiError(422, "PARCEL.WEIGHT.MISSING", "Parcel weight is required.")
        to_address, from_address = given["to_address"], given["from_address"]
        if given.get("is_return"):  # EasyPost swaps the outbound addresses for a return
            to_address, from_address = from_address, to_address
        shipment_id = _id("shp")
        ounces = math.ceil(float(given["parcel"]["weight"]))
        rates = [{"id": _id("rate"), "object": "Rate", "mode": "test", "shipment_id": shipment_id,
                  "carrier": carrier, "service": service, "rate": f"{(base + per_ounce * ounces) / 100:.2f}",
                  "currency": "USD", "retail_rate": None, "list_rate": None, "delivery_days": days,
                  "est_delivery_days": days, "delivery_date_guaranteed": False,
                  "carrier_account_id": f"ca_{carrier.lower()}"}
                 for carrier, service, base, per_ounce, days in self.rate_table]
        accounts = given.get("carrier_accounts") or []
        if accounts:
            rates = [rate for rate in rates if rate["carrier_account_id"] in accounts]
        shipment = {
            "id": shipment_id, "object": "Shipment", "mode": "test", "reference": given.get("reference"),
            "to_address": {"object": "Address", **to_address}, "from_address": {"object": "Address", **from_address},
            "parcel": {"id": _id("prcl"), "object": "Parcel", **given["parcel"]},
            "customs_info": given.get("customs_info"), "options": given.get("options") or {},
            "is_return": bool(given.get("is_return")), "rates": rates, "messages": [], "selected_rate": None,
            "postage_label": None, "tracking_code": None, "tracker": None, "refund_status": None,
            "insurance": None, "status": "unknown", "created_at": _now(), "updated_at": _now()}
        self.shipments[shipment_id] = shipment
        return shipment

    def _buy(self, shipment: dict, body: dict) -> dict:
        if shipment["tracking_code"]:
            raise ApiError(422, "SHIPMENT.POSTAGE.EXISTS", "Postage already exists for this shipment.")
        rate_id = (body.get("rate") or {}).get("id")
        rate = next((rate for rate in shipment["rates"] if rate["id"] == rate_id), None)
        if rate is None:
            raise ApiError(422, "SHIPMENT.RATE.INVALID", "The rate is not a rate of this shipment.")
        code = f"EZ{next(self._numbers)}"
        label_format = str(shipment["options"].get("label_format") or "PNG").upper()
        tracker = self._tracker(code, rate["carrier"], shipment["id"])
        tracker["tracking_details"].append(_detail("pre_transit", "Shipping label created", "label_created",
                                                   rate["carrier"], datetime.now(timezone.utc)))
        tracker.update(status="pre_transit", status_detail="label_created")
        shipment.update(
            selected_rate=rate, tracking_code=code, insurance=body.get("insurance"), status="pre_transit",
            tracker=tracker, updated_at=_now(),
            postage_label={"id": _id("pl"), "object": "PostageLabel", "label_date": _now(),
                           "label_file_type": CONTENT_TYPES[label_format], "label_url": self._label_url(
                               shipment, label_format), "label_pdf_url": None, "label_zpl_url": None})
        if label_format in ("PDF", "ZPL"):
            shipment["postage_label"][f"label_{label_format.lower()}_url"] = self._label_url(shipment, label_format)
        return shipment

    def _label_url(self, shipment: dict, label_format: str) -> str:
        return f"{self.base_url}/labels/{shipment['id']}.{label_format.lower()}"

    def _convert(self, shipment: dict, label_format: str) -> dict:
        if not shipment["tracking_code"]:
            raise ApiError(422, "SHIPMENT.POSTAGE.MISSING", "The shipment has no label yet.")
        if label_format not in ("PDF", "ZPL", "EPL2"):
            raise ApiError(422, "LABEL.FORMAT.INVALID", f"Cannot convert a label to {label_format}.")
        shipment["postage_label"][f"label_{label_format.lower()}_url"] = self._label_url(shipment, label_format)
        return shipment

    def _refund(self, shipment: dict) -> dict:
        if not shipment["tracking_code"]:
            raise ApiError(422, "SHIPMENT.REFUND.UNAVAILABLE", "This shipment has no postage to refund.")
        if shipment["refund_status"]:
            raise ApiError(422, "SHIPMENT.REFUND.ALREADY_REQUESTED", "A refund was already requested.")
        shipment["refund_status"] = "submitted"
        return shipment

    def label(self, name: str) -> Optional[tuple[str, bytes]]:
        shipment_id, _, extension = name.rpartition(".")
        shipment = self.shipments.get(shipment_id)
        label_format = extension.upper()
        if shipment is None or not shipment["tracking_code"] or label_format not in CONTENT_TYPES:
            return None
        return CONTENT_TYPES[label_format], label_file(label_format, shipment["tracking_code"])

    def authorized(self, header: str) -> bool:
        kind, _, credential = (header or "").partition(" ")
        if kind == "Bearer":
            return hmac.compare_digest(credential, self.api_key)
        if kind == "Basic":
            try:
                user = base64.b64decode(credential).decode().partition(":")[0]
            except ValueError:
                return False
            return hmac.compare_digest(user, self.api_key)
        return False

    def next_failure(self) -> Optional[int]:
        with self._lock:
            return self._failures.pop(0) if self._failures else None


def _handler(standin: EasyPostStandIn):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet in tests
            pass

        def _send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _json(self, status: int, value) -> None:
            self._send(status, json.dumps(value).encode())

        def _serve(self, method: str) -> None:
            split = urlsplit(self.path)
            if method == "GET" and split.path.startswith("/labels/"):
                found = standin.label(split.path.rsplit("/", 1)[-1])
                return self._send(200, found[1], found[0]) if found else self._json(404, {"error": {
                    "code": "NOT_FOUND", "message": "No such label."}})
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            failure = standin.next_failure()
            if failure:
                return self._json(failure, {"error": {"code": "INTERNAL_SERVER_ERROR",
                                                      "message": "The stand-in was told to fail."}})
            if not standin.authorized(self.headers.get("Authorization", "")):
                return self._json(401, {"error": {"code": "APIKEY.INVALID", "message": "Invalid API key."}})
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                return self._json(400, {"error": {"code": "BAD_REQUEST", "message": "The body is not JSON."}})
            query = parse_qs(split.query)
            standin.requests.append((method, split.path, body if method != "GET" else query))
            try:
                with standin._lock:
                    status, answer = standin.handle(method, split.path, query, body)
                    payload = json.dumps(answer).encode()
            except ApiError as error:
                return self._json(error.status, {"error": {"code": error.code, "message": error.message,
                                                           "errors": []}})
            self._send(status, payload)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

    return Handler
