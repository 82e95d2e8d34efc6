"""Each way a call can fail ends in one plain line on stderr and its own exit status."""

from __future__ import annotations

import socket

import pytest

R1 = "11111111-1111-4111-8111-111111111111"
R9 = "99999999-9999-4999-8999-999999999999"


@pytest.fixture
def against(fake_server):
    return {"ACCESSPORTAL_URL": fake_server.url, "ACCESSPORTAL_TOKEN": "tok"}


def test_connection_refused_says_so_and_exits_4(run, closed_port):
    result = run(
        "request",
        "ls",
        env={"ACCESSPORTAL_URL": f"http://127.0.0.1:{closed_port}", "ACCESSPORTAL_TOKEN": "t"},
    )
    assert result.code == 4
    assert result.err == (
        f"accessctl: error: cannot connect to http://127.0.0.1:{closed_port}: connection "
        "refused (is the server running, and is the URL right?)\n"
    )
    assert result.out == ""


def test_an_unknown_host_says_so_and_exits_4(run):
    result = run(
        "grants",
        "ls",
        env={"ACCESSPORTAL_URL": "http://no-such-host.invalid", "ACCESSPORTAL_TOKEN": "t"},
    )
    assert result.code == 4
    assert "cannot connect to http://no-such-host.invalid: unknown host name" in result.err


def test_a_server_that_never_answers_times_out_with_exit_4(run):
    with socket.socket() as listener:  # accepts connections (backlog) but never replies
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        result = run(
            "request",
            "ls",
            env={
                "ACCESSPORTAL_URL": f"http://127.0.0.1:{port}",
                "ACCESSPORTAL_TOKEN": "t",
                "ACCESSPORTAL_TIMEOUT": "0.2",
            },
        )
    assert result.code == 4
    assert "no answer in time" in result.err


def test_a_url_serving_html_is_not_mistaken_for_the_api(run, fake_server, against):
    fake_server.route(
        "GET",
        "/api/v1/requests/",
        200,
        "<html>Welcome</html>",
        content_type="text/html; charset=utf-8",
    )
    result = run("request", "ls", env=against)
    assert result.code == 4
    assert result.err == (
        f"accessctl: error: {fake_server.url} is not an Access Portal API: "
        f"{fake_server.url}/api/v1/requests/ answered with an HTML page (HTTP 200); "
        "check the server URL\n"
    )


def test_a_url_where_the_api_is_missing_exits_4(run, fake_server, against):
    # Nothing routed: the fake server answers every path with an HTML 404, as a web
    # server or another Django site would.
    result = run("request", "show", R9, env=against)
    assert result.code == 4
    assert "is not an Access Portal API" in result.err
    assert "(HTTP 404)" in result.err


def test_a_redirect_is_explained_not_followed(run, fake_server, against):
    fake_server.route(
        "POST", "/api/v1/requests/", 302, "", headers={"Location": "https://sso.example.com/login"}
    )
    result = run("request", "create", "--roles", "db-admin", "--reason", "x", env=against)
    assert result.code == 4
    assert "redirects to https://sso.example.com/login" in result.err
    assert [c["method"] for c in fake_server.calls] == ["POST"]


def test_the_api_s_field_errors_name_every_field_on_one_line(run, fake_server, against):
    """The one error shape: `detail` names the first field, `errors` every one."""
    fake_server.route(
        "POST",
        "/api/v1/requests/",
        400,
        {
            "detail": "reason: This field may not be blank.",
            "code": "invalid",
            "field": "reason",
            "errors": {"reason": ["This field may not be blank."], "max_duration": ["at most 14d"]},
        },
    )
    result = run("request", "create", "--roles", "db-admin", env=against)
    assert result.code == 1
    # Each field is named by the flag that filled it.
    assert result.err == (
        "accessctl: error: --reason: This field may not be blank; --max-duration: at most 14d\n"
    )


def test_a_refusal_naming_one_field_is_its_detail(run, fake_server, against):
    fake_server.route(
        "POST",
        "/api/v1/requests/",
        422,
        {
            "detail": "a reason is required for this request (Ticket number and why)",
            "code": "reason_required",
            "field": "reason",
            "errors": {"reason": ["a reason is required for this request (Ticket number and why)"]},
        },
    )
    result = run("request", "create", "--roles", "db-admin", env=against)
    assert result.code == 1
    assert result.err == (
        "accessctl: error: --reason: a reason is required for this request "
        "(Ticket number and why)\n"
    )


def test_field_errors_from_the_server_are_one_line_and_exit_1(run, fake_server, against):
    fake_server.route(
        "POST",
        "/api/v1/requests/",
        400,
        {
            "reason": ["A reason is required.\nTicket number and why"],
            "max_duration": ["at most 14d"],
        },
    )
    result = run("request", "create", "--roles", "db-admin", env=against)
    assert result.code == 1
    assert result.err == (
        "accessctl: error: reason: A reason is required. Ticket number and why; "
        "max_duration: at most 14d\n"
    )


def test_detail_errors_from_the_server_are_printed_as_they_are(run, fake_server, against):
    fake_server.route(
        "POST",
        f"/api/v1/requests/{R1}/reviews/",
        409,
        {"detail": "this request is no longer pending (approved)"},
    )
    result = run("request", "review", R1, "--approve", env=against)
    assert result.code == 1
    assert result.err == "accessctl: error: this request is no longer pending (approved)\n"


def test_not_found_names_the_thing_asked_for(run, fake_server, against):
    fake_server.route("GET", f"/api/v1/requests/{R9}/", 404, {"detail": "Not found."})
    result = run("request", "show", R9, env=against)
    assert result.code == 1
    assert result.err == f"accessctl: error: request {R9} not found (or you may not see it)\n"


def test_a_refused_token_exits_5_and_says_to_log_in_again(run, fake_server, against):
    fake_server.route("GET", "/api/v1/grants/", 401, {"detail": "Invalid token."})
    result = run("grants", "ls", env=against)
    assert result.code == 5
    assert result.err == (
        "accessctl: error: the server refused the credentials: Invalid token; "
        "run `accessctl login` again, or check ACCESSPORTAL_TOKEN\n"
    )


def test_a_server_crash_page_exits_1(run, fake_server, against):
    fake_server.route(
        "GET", "/api/v1/grants/", 502, "<html>Bad Gateway</html>", content_type="text/html"
    )
    result = run("grants", "ls", env=against)
    assert result.code == 1
    assert result.err == "accessctl: error: the server failed (HTTP 502)\n"


def test_requests_carry_the_token_and_ask_for_json(run, fake_server, against):
    fake_server.route("GET", "/api/v1/grants/", 200, [])
    assert run("grants", "ls", "--active", env=against).code == 0
    call = fake_server.calls[0]
    assert call["path"] == "/api/v1/grants/?active=true"
    assert call["headers"]["Authorization"] == "Token tok"
    assert call["headers"]["Accept"] == "application/json"


def test_paginated_lists_are_followed_to_the_end(run, fake_server, against):
    fake_server.route(
        "GET",
        "/api/v1/resources/",
        200,
        {
            "count": 2,
            "next": "http://elsewhere.example/api/v1/resources/page2/",
            "results": [{"id": "node/a", "labels": {}}],
        },
    )
    fake_server.route(
        "GET",
        "/api/v1/resources/page2/",
        200,
        {"count": 2, "next": None, "results": [{"id": "node/b", "labels": {}}]},
    )
    result = run("resources", "search", "--json", env=against)
    assert result.code == 0
    assert [r["id"] for r in result.json] == ["node/a", "node/b"]
    # `next` pointed at another host (a proxy's view): we stay on ours.
    assert len(fake_server.calls) == 2


def test_a_lists_items_are_named_by_index_in_messages():
    from accessctl.client import error_message

    body = {
        "detail": "roles: bad",
        "code": "invalid",
        "errors": {"roles": {"0": ["'x y' is not a role name"]}, "max_duration": ["too long"]},
    }
    assert error_message(body) == "roles[0]: 'x y' is not a role name; max_duration: too long"
