"""`--wait` rides out a passing server problem and gives up plainly on a lasting one."""

from __future__ import annotations

PENDING = {
    "id": "r1",
    "user": "alice",
    "roles": ["db-admin"],
    "resources": [],
    "state": "PENDING",
    "expires": "2999-01-01T00:00:00Z",
    "reviews": [],
}
APPROVED = {
    **PENDING,
    "state": "APPROVED",
    "access_starts": "2026-11-25T12:00:00Z",
    "access_expires": "2026-11-25T20:00:00Z",
    "reviews": [
        {"reviewer": "bob", "state": "APPROVED", "reason": "ok", "created": "2026-11-25T12:00:00Z"}
    ],
}


def _steps(*steps):
    pending = list(steps)

    def sleep(_seconds):
        assert pending, "the CLI kept waiting"
        pending.pop(0)()

    return sleep


def test_wait_retries_a_bad_gateway_and_then_sees_the_decision(create_and_wait, fake_server):
    env = {"ACCESSPORTAL_URL": fake_server.url, "ACCESSPORTAL_TOKEN": "t"}
    fake_server.route("POST", "/api/v1/requests/", 201, PENDING)

    def gateway_down():
        fake_server.route(
            "GET", "/api/v1/requests/r1/", 502, "<html>Bad Gateway</html>", content_type="text/html"
        )

    def back_with_decision():
        fake_server.route("GET", "/api/v1/requests/r1/", 200, APPROVED)

    result = create_and_wait(env=env, sleep=_steps(gateway_down, back_with_decision))
    assert result.code == 0, result.err
    assert "+ bob approved: ok (2026-11-25 12:00 UTC)" in result.out
    assert "Request r1 APPROVED" in result.out
    # stderr is no terminal: the retry is a plain line there, not a spinner frame.
    assert "problem reaching the server, retrying: the server failed (HTTP 502)\n" in result.err
    assert "\r" not in result.err and "\x1b" not in result.err


def test_wait_gives_up_when_the_server_stays_unreachable(create_and_wait, fake_server):
    env = {"ACCESSPORTAL_URL": fake_server.url, "ACCESSPORTAL_TOKEN": "t"}
    fake_server.route("POST", "/api/v1/requests/", 201, PENDING)

    def server_goes_away():
        fake_server.httpd.shutdown()
        fake_server.httpd.server_close()

    result = create_and_wait(env=env, sleep=_steps(server_goes_away, *[lambda: None] * 5))
    assert result.code == 4
    assert result.err.strip().splitlines()[-1] == (
        f"accessctl: error: cannot connect to {fake_server.url}: connection refused (is the "
        "server running, and is the URL right?); stopped waiting; follow the request with: "
        "accessctl request show r1 --wait"
    )


def test_wait_stops_on_a_refusal_and_says_how_to_follow(create_and_wait, fake_server):
    env = {"ACCESSPORTAL_URL": fake_server.url, "ACCESSPORTAL_TOKEN": "t"}
    fake_server.route("POST", "/api/v1/requests/", 201, PENDING)

    def token_revoked():
        fake_server.route("GET", "/api/v1/requests/r1/", 401, {"detail": "Invalid token."})

    result = create_and_wait(env=env, sleep=_steps(token_revoked))
    assert result.code == 5
    # stderr is no terminal: a plain progress line, then the error.
    progress, error = result.err.splitlines()
    assert progress.startswith("waiting for review of request r1 (0s)... 0 approvals so far")
    assert error == (
        "accessctl: error: the server refused the credentials: Invalid token; stopped waiting; "
        "run `accessctl login` again, or check ACCESSPORTAL_TOKEN; then follow the request "
        "with: accessctl request show r1 --wait"
    )
