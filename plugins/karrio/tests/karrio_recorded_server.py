"""A local HTTP server that plays a carrier's API: it answers each route with a
recorded answer (tests/recorded/) and keeps what it was asked, so that karrio's real
request building and response parsing run end to end without the carrier."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RECORDED = Path(__file__).with_name("recorded")


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"


HANG_UP = Answer(0, b"")  # close the connection without answering


def recorded(name: str, status: int = 200) -> Answer:
    kind = "application/xml" if name.endswith(".xml") else "application/json"
    return Answer(status, (RECORDED / name).read_bytes(), kind)


# The recorded answers of the two extensions the tests drive, by route.
UPS_NUMBER, DHL_NUMBER = "1Z2220060291994175", "340434310428091700"

UPS_ROUTES = {
    ("POST", "/security/v1/oauth/token"): recorded("ups_token.json"),
    ("POST", "/api/rating/"): recorded("ups_rate.json"),
    ("POST", "/api/shipments/v2409/ship"): recorded("ups_ship.json"),
    ("DELETE", "/api/shipments/v2409/void/cancel/"): recorded("ups_void.json"),
    ("GET", "/api/track/v1/details/"): recorded("ups_track.json"),
}
DHL_ROUTES = {
    ("POST", "/parcel/de/account/auth/ropc/v1/token"): recorded("dhl_token.json"),
    ("POST", "/parcel/de/shipping/v2/orders"): recorded("dhl_order.json"),
    ("DELETE", "/parcel/de/shipping/v2/orders"): recorded("dhl_cancel.json"),
    ("GET", "/parcel/de/tracking/v0/shipments"): recorded("dhl_track.xml"),
}


@dataclass
class Asked:
    method: str
    path: str  # with its query
    body: bytes
    headers: dict = field(default_factory=dict)


class CarrierServer:
    """`routes[(method, path prefix)] = Answer`; the longest matching prefix answers."""

    def __init__(self):
        self.routes: dict[tuple[str, str], Answer] = {}
        self.asked: list[Asked] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.asked.append(Asked(self.command, self.path, body, dict(self.headers)))
                answer = server.answer_for(self.command, self.path)
                if answer is HANG_UP:
                    self.close_connection = True
                    return
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_DELETE = do_PUT = _answer

            def log_message(self, *args):  # quiet
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def answer_for(self, method: str, path: str) -> Answer:
        matches = [(prefix, answer) for (verb, prefix), answer in self.routes.items()
                   if verb == method and path.startswith(prefix)]
        if not matches:
            return Answer(404, b'{"detail": "no recorded answer"}')
        return max(matches, key=lambda match: len(match[0]))[1]

    def paths(self, method: str) -> list[str]:
        return [asked.path for asked in self.asked if asked.method == method]

    def __enter__(self) -> "CarrierServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._http.shutdown()
        self._http.server_close()
