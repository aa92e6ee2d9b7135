"""A real HTTP receiver for the OMS's outbound webhooks, run in a thread on a free
local port: it verifies each delivery's OMS-Signature with its secret the way the
docs tell a shop to, keeps the events it accepted (once per event id, as a receiver
should) and every request it got, and can answer 500 for a while or be down."""
from __future__ import annotations

import json
import threading

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from oms_core.webhook_signing import verify_outbound


class Receiver:
    def __init__(self, secret: str = ""):
        self.secret = secret
        self.fail_next = 0  # answer 500 to this many requests
        self.requests: list[dict] = []  # everything received, verified or not
        self.accepted: dict[str, dict] = {}  # event id -> body, first delivery only
        self.duplicates = 0
        self._server = None
        self.port = 0
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/oms?source=test"

    def app(self, environ, start_response):
        request = Request(environ)
        body = request.get_data()
        problem = verify_outbound(body, request.headers.get("OMS-Signature"), self.secret)
        with self._lock:
            self.requests.append({"headers": dict(request.headers), "body": body, "problem": problem,
                                  "path": request.full_path})
            if self.fail_next > 0:
                self.fail_next -= 1
                return Response("boom: receiver down for maintenance", 500)(environ, start_response)
            if problem:
                return Response(f"refused: {problem}", 400)(environ, start_response)
            event = json.loads(body)
            if event["id"] != request.headers.get("OMS-Event-Id"):
                return Response("event id header and body differ", 400)(environ, start_response)
            if event["id"] in self.accepted:
                self.duplicates += 1
            else:
                self.accepted[event["id"]] = event
        return Response("ok", 200)(environ, start_response)

    def start(self) -> "Receiver":
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.port = self._server.server_port
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self) -> list[dict]:
        return list(self.accepted.values())

    def types(self) -> list[str]:
        return [event["type"] for event in self.accepted.values()]
