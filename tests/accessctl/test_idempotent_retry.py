"""accessctl sends every POST with an Idempotency-Key and, when the answer is lost, sends
it again with the same key: the server replays its first answer, so a retry after a network
error cannot make a second request."""

from __future__ import annotations

import socket
import threading

import pytest
from rest_framework.authtoken.models import Token

from accessctl.client import ApiClient
from accessctl.errors import NetworkError, OutcomeUnknown, ServerError
from accessportal.kernel.models import AuditEvent
from requests_app.models import AccessRequest


class AnswerDroppingProxy:
    """A TCP proxy in front of the live server: it forwards the first request whole, lets
    the server do the work, then closes the client's connection without the answer (a
    network failure after the write). Later connections are passed through."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.answers: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with client, socket.create_connection(self.upstream) as server:
                server.sendall(_read_request(client))
                answer = _read_all(server)
                self.answers.append(answer)
                if len(self.answers) > 1:
                    client.sendall(answer)

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=10)


def _read_request(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_create_whose_answer_was_lost_is_sent_again_and_made_once(live_server, base_policy, user):
    token = Token.objects.get_or_create(user=user("alice"))[0]
    host, port = live_server.thread.host, live_server.thread.port
    proxy = AnswerDroppingProxy((host, port))
    try:
        created = ApiClient(proxy.url, token.key).post(
            "requests/", {"roles": ["db-admin"], "reason": "INC-5"}
        )
    finally:
        proxy.close()
    assert len(proxy.answers) == 2
    assert b" 201 " in proxy.answers[0].split(b"\r\n")[0]
    assert b"Idempotent-Replayed: true" in proxy.answers[1]
    assert AccessRequest.objects.get().id.hex == created["id"].replace("-", "")
    assert AuditEvent.objects.filter(action="request.created").count() == 1


@pytest.fixture
def slept():
    return []


def test_a_503_is_retried_with_the_same_key_then_reported(fake_server, slept):
    fake_server.route("POST", "/api/v1/requests/", 503, {"detail": "down", "code": "x"})
    client = ApiClient(fake_server.url, "tok")
    client.sleep = slept.append
    with pytest.raises(ServerError):
        client.post("requests/", {"roles": ["db-admin"]})
    keys = [call["headers"]["Idempotency-Key"] for call in fake_server.calls]
    assert len(keys) == 3 and len(set(keys)) == 1 and slept == [1.0, 1.0]
    fake_server.calls.clear()
    with pytest.raises(ServerError):
        client.post("requests/", {"roles": ["db-admin"]})
    assert fake_server.calls[0]["headers"]["Idempotency-Key"] != keys[0]


def test_posts_the_server_does_not_key_and_refused_connections_are_sent_once(
    fake_server, closed_port, slept
):
    fake_server.route("POST", "/api/v1/credentials/", 503, {"detail": "down"})
    client = ApiClient(fake_server.url, "tok")
    client.sleep = slept.append
    with pytest.raises(ServerError):
        client.post("credentials/", {})
    assert len(fake_server.calls) == 1 and slept == []
    refused = ApiClient(f"http://127.0.0.1:{closed_port}", "tok")
    with pytest.raises(NetworkError) as caught:
        refused.post("requests/", {})
    assert not caught.value.answer_lost


def test_a_key_in_use_is_waited_for_as_retry_after_says_then_the_outcome_is_unknown(
    fake_server, slept
):
    """The first attempt may still be running on the server (its answer timed out here):
    accessctl waits for it for longer than the server may take, never inviting a rerun
    with a new key, and if it still cannot tell, says to look first."""
    fake_server.route(
        "POST",
        "/api/v1/requests/",
        409,
        {"detail": "still being processed", "code": "idempotency_key_in_use"},
        headers={"Retry-After": "3"},
    )
    client = ApiClient(fake_server.url, "tok")
    client.sleep = slept.append
    with pytest.raises(OutcomeUnknown) as unknown:
        client.post("requests/", {"roles": ["db-admin"]})
    assert sum(slept) >= 40 and set(slept) == {3.0}
    assert len({call["headers"]["Idempotency-Key"] for call in fake_server.calls}) == 1
    assert "outcome unknown" in unknown.value.message
    assert "accessctl request ls" in unknown.value.message
    assert unknown.value.exit_code != 0


def test_a_key_in_use_then_the_first_answer_is_returned(fake_server, slept):
    fake_server.route(
        "POST",
        "/api/v1/requests/",
        409,
        {"detail": "still being processed", "code": "idempotency_key_in_use"},
    )
    client = ApiClient(fake_server.url, "tok")

    def finish_meanwhile(seconds):
        slept.append(seconds)
        if len(slept) == 20:  # the first attempt ends after 20 s
            fake_server.route("POST", "/api/v1/requests/", 201, {"id": "r1"})

    client.sleep = finish_meanwhile
    assert client.post("requests/", {"roles": ["db-admin"]}) == {"id": "r1"}
    assert slept == [1.0] * 20
