"""The webhook provisioner against a real HTTP server on loopback that behaves like a
company's endpoint: it verifies the signature with the shared secret before it believes a
word, keeps its own member list, and acknowledges (or refuses) as configured per test."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from accessportal.kernel import signing
from accessportal.provisioners import Principal, ProvisionError, provisioner_get
from accessportal.provisioners.webhook import WebhookProvisioner

SECRET_ENV = "PROVISION_TEST_HOOK_SECRET"
SECRET = "hook-s3cret-value"


class Endpoint:
    """A company's provisioning endpoint: `members` is its state; `answer` overrides what
    it says (status, body) to test refusals and bad acknowledgements."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.members: set[str] = set()
        self.received: list[dict] = []
        self.answer: tuple[int, bytes] | None = None
        self.hang = threading.Event()  # set: the endpoint stops answering
        self.drip = threading.Event()  # set: it answers a byte at a time, never finishing
        self.released = threading.Event()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if endpoint.hang.is_set():
                    endpoint.released.wait(30)
                    return
                if endpoint.drip.is_set():
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    while not endpoint.released.wait(0.2):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                    return
                status, reply = endpoint.handle(self.headers, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/provision"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def handle(self, headers, body: bytes) -> tuple[int, bytes]:
        authentic = signing.verify(
            self.secret,
            headers.get(signing.TIMESTAMP_HEADER, ""),
            headers.get(signing.SIGNATURE_HEADER, ""),
            body,
        )
        if not authentic:
            return 401, b'{"error": "bad signature"}'
        call = json.loads(body)
        call["headers"] = {k.lower(): v for k, v in headers.items()}
        self.received.append(call)
        if self.answer is not None:
            return self.answer
        if call["action"] == "grant":
            self.members.add(call["account"])
        elif call["action"] == "revoke":
            self.members.discard(call["account"])
        else:
            return 200, json.dumps({"members": sorted(self.members)}).encode()
        return 200, b'{"ok": true}'

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    made = Endpoint(SECRET)
    yield made
    made.close()


@pytest.fixture
def target(endpoint, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    return {"url": endpoint.url, "secret_env": SECRET_ENV, "group": "db-admins", "timeout": 5}


@pytest.fixture
def prov():
    return WebhookProvisioner()


def test_the_entry_point_names_it():
    assert isinstance(provisioner_get("webhook"), WebhookProvisioner)


def test_grant_revoke_and_members_reach_the_endpoint_signed(endpoint, target, prov):
    prov.grant("alice", target)
    prov.grant("alice", target)
    prov.grant("bob", target)
    assert prov.members(target) == {"alice", "bob"}
    prov.revoke("alice", target)
    assert prov.members(target) == {"bob"}
    assert endpoint.members == {"bob"}

    grant = endpoint.received[0]
    assert grant["action"] == "grant"
    assert grant["account"] == "alice"
    assert grant["target"] == {"url": endpoint.url, "group": "db-admins", "timeout": 5}
    assert uuid.UUID(grant["id"])
    sent = datetime.fromisoformat(grant["sent_at"])
    assert abs(datetime.now(UTC) - sent) < timedelta(minutes=1)
    assert grant["headers"][signing.EVENT_HEADER.lower()] == "provision.grant"
    assert grant["headers"][signing.DELIVERY_HEADER.lower()] == grant["id"]
    assert len({call["id"] for call in endpoint.received}) == len(endpoint.received)
    assert [c["action"] for c in endpoint.received][3] == "members"
    assert endpoint.received[3]["account"] is None
    assert all(SECRET not in json.dumps(call) for call in endpoint.received)


def test_probe_asks_for_the_members_and_changes_nothing(endpoint, target, prov):
    prov.probe(target)
    assert [c["action"] for c in endpoint.received] == ["members"]


def test_an_endpoint_that_does_not_know_the_secret_refuses(endpoint, target, prov):
    endpoint.secret = "another-secret"
    with pytest.raises(ProvisionError) as refused:
        prov.grant("alice", target)
    assert refused.value.retry is False
    assert "HTTP 401" in str(refused.value) and "bad signature" in str(refused.value)
    assert endpoint.members == set()


def test_a_tampered_body_fails_the_receivers_check():
    """What a receiver relies on: the signature covers the timestamp and the exact body."""
    body = b'{"action": "grant", "account": "alice"}'
    headers = signing.signed_headers(SECRET, body)
    stamp, sig = headers[signing.TIMESTAMP_HEADER], headers[signing.SIGNATURE_HEADER]
    assert signing.verify(SECRET, stamp, sig, body)
    assert not signing.verify(SECRET, stamp, sig, body.replace(b"alice", b"mallory"))
    assert not signing.verify(SECRET, str(int(stamp) - 1), sig, body)
    assert not signing.verify(SECRET, stamp, sig, body, now=int(stamp) + 3600)  # a replay


@pytest.mark.parametrize(
    ("status", "retry"),
    [(400, False), (403, False), (404, False), (408, True), (429, True), (500, True), (503, True)],
)
def test_a_refusal_says_the_status_and_what_the_endpoint_said(
    endpoint, target, prov, status, retry
):
    endpoint.answer = (status, b'{"error": "user alice is locked"}' + b"x" * 500 + b"tail")
    with pytest.raises(ProvisionError) as refused:
        prov.revoke("alice", target)
    message = str(refused.value)
    assert refused.value.retry is retry
    assert f"HTTP {status}" in message
    assert "user alice is locked" in message
    assert "tail" not in message  # an excerpt, not the whole answer


def test_a_redirect_is_not_followed(endpoint, target, prov):
    endpoint.answer = (302, b"")
    with pytest.raises(ProvisionError, match="HTTP 302") as refused:
        prov.grant("alice", target)
    assert refused.value.retry is False
    assert len(endpoint.received) == 1


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (b'{"ok": false, "error": "no such user"}', "no such user"),
        (b'{"ok": "yes"}', 'expected {"ok": true}'),
        (b"[]", 'expected {"ok": true}'),
        (b"done", "without JSON: done"),
    ],
)
def test_an_answer_that_is_not_an_acknowledgement_fails(endpoint, target, prov, answer, said):
    endpoint.answer = (200, answer)
    with pytest.raises(ProvisionError) as failed:
        prov.grant("alice", target)
    assert said in str(failed.value)
    assert failed.value.retry is True


def test_an_endpoint_may_say_retrying_is_pointless(endpoint, target, prov):
    endpoint.answer = (200, b'{"ok": false, "error": "no such user", "retry": false}')
    with pytest.raises(ProvisionError, match="no such user") as failed:
        prov.grant("alice", target)
    assert failed.value.retry is False


@pytest.mark.parametrize(
    "answer", [b'{"ok": true}', b'{"members": "alice"}', b'{"members": [1, 2]}']
)
def test_members_needs_a_list_of_names(endpoint, target, prov, answer):
    endpoint.answer = (200, answer)
    with pytest.raises(ProvisionError, match="did not list its members"):
        prov.members(target)


def test_the_secret_never_appears_in_errors(endpoint, target, prov):
    endpoint.answer = (400, f'{{"error": "bad key {SECRET}"}}'.encode())  # a careless echo
    with pytest.raises(ProvisionError) as refused:
        prov.grant("alice", target)
    assert SECRET not in str(refused.value)
    assert "bad key ***" in str(refused.value)


def test_an_endpoint_that_does_not_answer_fails_within_the_timeout(endpoint, target, prov):
    endpoint.hang.set()
    started = time.monotonic()
    with pytest.raises(ProvisionError, match="did not answer within 1s") as failed:
        prov.grant("alice", {**target, "timeout": 1})
    took = time.monotonic() - started
    assert failed.value.retry is True
    assert took < 1 + 3, f"a 1 s timeout took {took:.1f} s"  # a bound, not a speed


def test_an_endpoint_that_drips_its_answer_is_cut_off_at_the_timeout(endpoint, target, prov):
    """The timeout bounds the whole call, not each read: a byte every 0.2 s is no answer."""
    endpoint.drip.set()
    started = time.monotonic()
    with pytest.raises(ProvisionError, match="did not answer within 1s") as failed:
        prov.grant("alice", {**target, "timeout": 1})
    took = time.monotonic() - started
    assert failed.value.retry is True
    assert took < 1 + 3, f"a 1 s timeout took {took:.1f} s"


def test_an_endpoint_that_is_down_is_retried(target, prov):
    with contextlib.closing(Endpoint(SECRET)) as gone:
        url = gone.url
    with pytest.raises(ProvisionError, match="could not reach") as failed:
        prov.grant("alice", {**target, "url": url})
    assert failed.value.retry is True


def test_a_missing_secret_variable_is_named(target, prov, monkeypatch):
    monkeypatch.delenv(SECRET_ENV)
    with pytest.raises(ProvisionError, match=f"{SECRET_ENV} \\(secret_env\\) is not set"):
        prov.grant("alice", target)


def test_account_fills_in_the_template(prov):
    carol = Principal("carol", "c.jones@example.com")
    assert prov.account(carol, {}) == "carol"
    assert prov.account(carol, {"account": "{email_local}@corp"}) == "c.jones@corp"


def test_check_names_every_problem_without_the_network(prov):
    fine = {
        "url": "https://idm.example.com/hook",
        "secret_env": "PROVISION_IDM_SECRET",
        "group": "x",
    }
    assert prov.check(fine) == []
    assert prov.check({**fine, "url": "http://127.0.0.1:8080/hook"}) == []
    assert prov.check({**fine, "url": "http://[::1]:8080/hook"}) == []
    assert prov.check({**fine, "url": "http://idm.example.com/hook"}) == [
        "url must use https (plain http only to a loopback address such as 127.0.0.1)"
    ]
    assert prov.check({**fine, "url": "https://me:pw@idm.example.com/"}) == [
        "url must not carry a user name or password (secrets never go into policy files)"
    ]
    assert prov.check(
        {"url": "ftp://x", "secret_env": "s3cret!", "account": "{name}", "token_env": "T"}
    ) == [
        "url must be an http:// or https:// URL",
        "secret_env must name an environment variable (A-Z, 0-9, _) holding the HMAC signing "
        "key; secrets never go into policy files",
        "account uses {name}, which is not a placeholder (placeholders: {username}, {email_local})",
        "token_env is not used by the webhook provisioner",
    ]
    assert prov.check({**fine, "timeout": "soon"}) == [
        "timeout must be a number of seconds above 0 and at most 300"
    ]
