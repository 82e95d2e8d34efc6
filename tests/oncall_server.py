"""A fake PagerDuty and Opsgenie on 127.0.0.1, speaking their documented JSON shapes.

PagerDuty REST API v2 `GET /oncalls` (https://developer.pagerduty.com/api-reference/,
"List all of the on-calls"): `schedule_ids[]`, `since`, `until`, `include[]=users`,
offset pagination (`limit`, `offset`, `more`), `Authorization: Token token=...`.
Opsgenie `GET /v2/schedules/{identifier}/on-calls` ("Get On Calls"):
`scheduleIdentifierType=name`, `flat=true`, `date`, `Authorization: GenieKey ...`, answering
`{"data": {"_parent": {...}, "onCallRecipients": [...]}, "took", "requestId"}`.

Tests set who is on call per schedule, make the server fail (`status`) or hang (`delay`),
and read `calls` to see what was asked.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from tests.provisioners.certs import write_certificates

PAGERDUTY_TOKEN = "pd-test-token"
OPSGENIE_KEY = "og-test-key"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that gave up (the timeout tests) is expected, not worth a traceback


class FakeOncall:
    """Served over TLS as https://localhost:PORT (the PagerDuty client takes https only);
    `ca_file` is the certificate authority to trust (ONCALL_CA_FILE)."""

    def __init__(self, folder: Path) -> None:
        self.pagerduty: dict[str, list[str]] = {}  # schedule id -> emails on call
        self.opsgenie: dict[str, list[str]] = {}  # schedule name -> emails on call
        self.status = 200  # anything else: every answer is that error
        self.delay = 0.0  # seconds before answering (a timeout)
        self.calls: list[dict] = []
        self._server = _Server(("127.0.0.1", 0), self._handler())
        paths = write_certificates(folder)
        self.ca_file = str(paths["ca.pem"])
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(paths["server.pem"], paths["server.key"])
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://localhost:{self._server.server_address[1]}"

    def start(self) -> FakeOncall:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002 - http.server's signature
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 - http.server's name
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                fake.calls.append(
                    {
                        "path": parts.path,
                        "query": query,
                        "authorization": self.headers.get("Authorization", ""),
                    }
                )
                if fake.delay:
                    time.sleep(fake.delay)
                if fake.status != 200:
                    return self._send(fake.status, {"error": {"message": "unavailable"}})
                if parts.path == "/oncalls":
                    return self._pagerduty(query)
                prefix, suffix = "/v2/schedules/", "/on-calls"
                if parts.path.startswith(prefix) and parts.path.endswith(suffix):
                    name = unquote(parts.path[len(prefix) : -len(suffix)])
                    return self._opsgenie(name, query)
                return self._send(404, {"error": {"message": "not found"}})

            def _pagerduty(self, query):
                if self.headers.get("Authorization") != f"Token token={PAGERDUTY_TOKEN}":
                    return self._send(401, {"error": {"message": "Unauthorized", "code": 2006}})
                if not query.get("since") or not query.get("until"):
                    return self._send(400, {"error": {"message": "since and until"}})
                with_users = "users" in query.get("include[]", [])
                oncalls = []
                for schedule_id in query.get("schedule_ids[]", []):
                    for i, email in enumerate(fake.pagerduty.get(schedule_id, [])):
                        user = {"id": f"PU{i}", "type": "user_reference", "summary": email}
                        if with_users:
                            user = {**user, "type": "user", "email": email, "name": email}
                        oncalls.append(
                            {
                                "escalation_level": 1,
                                "schedule": {"id": schedule_id, "type": "schedule_reference"},
                                "user": user,
                                "start": query["since"][0],
                                "end": query["until"][0],
                            }
                        )
                limit = int(query.get("limit", ["25"])[0])
                offset = int(query.get("offset", ["0"])[0])
                page = oncalls[offset : offset + limit]
                self._send(
                    200,
                    {
                        "oncalls": page,
                        "limit": limit,
                        "offset": offset,
                        "more": offset + limit < len(oncalls),
                        "total": None,
                    },
                )

            def _opsgenie(self, name, query):
                if self.headers.get("Authorization") != f"GenieKey {OPSGENIE_KEY}":
                    return self._send(401, {"message": "Could not authenticate", "took": 0.0})
                if query.get("scheduleIdentifierType") != ["name"] or name not in fake.opsgenie:
                    return self._send(404, {"message": "Schedule not found", "took": 0.0})
                self._send(
                    200,
                    {
                        "data": {
                            "_parent": {"id": "d875", "name": name, "enabled": True},
                            "onCallRecipients": fake.opsgenie[name],
                        },
                        "took": 0.1,
                        "requestId": "4f0c",
                    },
                )

        return Handler
