"""Every answer under /api/ is JSON, in DEBUG and in production mode alike: a write to a path
without its trailing slash is a 404 naming the right path (never Django's APPEND_SLASH
RuntimeError, never a 301 that a client follows as a GET, dropping the write), and an
unexpected exception is a 500 `{"detail", "code"}`, not Django's HTML page.

Every error status (401, 403 for CSRF, 404, 405, 406, 413, 415, 429, parse errors, 500s, a
bad Host) is `{"detail", "code", "field"?, "errors"?}`, and its code is in the enum the
schema documents for that operation and status.
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from requests_app.api.error_codes import REGISTRY
from requests_app.api.views import requests as request_views
from requests_app.models import AccessRequest
from requests_app.services.cli_login import cli_login_approve
from tests.requests_app.api.conftest import url
from tests.requests_app.api.crash_urls import CRASHING_MIDDLEWARE
from tests.requests_app.api.test_error_codes import error_schema

MODES = [pytest.param(True, id="debug"), pytest.param(False, id="production")]


class _AnyText:
    def __eq__(self, other) -> bool:
        return isinstance(other, str) and bool(other)


ANY_TEXT = _AnyText()


@pytest.fixture(params=MODES)
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.fixture
def client_for(api_policy, user):
    """A token client that gets the server's answer to an exception instead of re-raising
    it, as a real client would."""

    def _client(name: str) -> APIClient:
        client = APIClient(raise_request_exception=False)
        token, _ = Token.objects.get_or_create(user=user(name))
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return _client


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_write_without_the_trailing_slash_is_a_json_404_naming_the_path(
    client_for, debug, method
):
    body = {"roles": ["db-admin"], "reason": "INC-1"}
    answer = getattr(client_for("alice"), method)("/api/v1/requests", body, format="json")
    assert answer.status_code == 404
    assert answer["Content-Type"] == "application/json"
    assert answer.json() == {
        "detail": f"API paths end with a slash: {method.upper()} /api/v1/requests/",
        "code": "not_found",
    }
    assert not AccessRequest.objects.exists()


def test_the_same_write_with_the_slash_works(client_for, debug):
    body = {"roles": ["db-admin"], "reason": "INC-1"}
    answer = client_for("alice").post("/api/v1/requests/", body, format="json")
    assert answer.status_code == 201
    assert AccessRequest.objects.count() == 1


def test_a_read_without_the_trailing_slash_still_redirects_with_its_query(client_for, debug):
    answer = client_for("alice").get("/api/v1/requests", {"scope": "mine"})
    assert answer.status_code == 301
    assert answer["Location"] == "/api/v1/requests/?scope=mine"


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/nope/", "/api/v1/", "/api/"])
def test_an_unknown_api_path_is_a_json_404_with_or_without_slash(client_for, debug, path):
    for method in ("get", "post"):
        answer = getattr(client_for("alice"), method)(path, {}, format="json")
        assert answer.status_code == 404, (method, path)
        assert answer.json() == {
            "detail": "no such API endpoint: see /api/docs/",
            "code": "not_found",
        }


def test_an_unexpected_exception_is_a_json_500(client_for, debug, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("a bug in the service")

    monkeypatch.setattr(request_views, "access_request_create", broken)
    body = {"roles": ["db-admin"], "reason": "INC-1"}
    answer = client_for("alice").post(url("requests/"), body, format="json")
    assert answer.status_code == 500
    assert answer["Content-Type"] == "application/json"
    assert answer.json() == {"detail": "internal server error", "code": "server_error"}
    # The traceback is logged for the operator (Django's "django.request" logger), not sent.
    assert any(r.exc_info and "a bug in the service" in str(r.exc_info[1]) for r in caplog.records)


def test_a_crash_outside_the_api_views_is_json_under_api_only(settings):
    """Production mode: Django's handler500 answers JSON under /api/, its page elsewhere."""
    settings.DEBUG = False
    settings.ROOT_URLCONF = "tests.requests_app.api.crash_urls"
    client = APIClient(raise_request_exception=False)
    api_crash = client.get("/api/test-crash/")
    assert api_crash.status_code == 500
    assert api_crash.json() == {"detail": "internal server error", "code": "server_error"}
    page_crash = client.get("/test-crash/")
    assert page_crash.status_code == 500
    assert page_crash["Content-Type"].startswith("text/html")


# --- every error status in the one shape, with a code its operation documents -------------


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker) -> dict:
    from drf_spectacular.generators import SchemaGenerator

    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def _operation(schema: dict, method: str, path: str) -> dict | None:
    """The schema's operation for a concrete path (`/api/v1/requests/<uuid>/reviews/`)."""
    for template, item in schema["paths"].items():
        pattern = "^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return item[method.lower()]
    return None


@pytest.fixture
def answers(schema):
    """answers(response, status, code): the one error shape, and for a documented operation,
    `status` documented with `code` in its enum (the code registry, the schema and the server
    agree)."""

    def _check(response, status: int, code: str, *, path: str | None = None) -> dict:
        assert response.status_code == status, response.content[:300]
        assert response["Content-Type"] == "application/json"
        body = response.json()
        assert body["code"] == code, body
        assert isinstance(body["detail"], str) and body["detail"]
        assert set(body) <= {"detail", "code", "field", "errors"}, body
        assert code in REGISTRY
        request = response.wsgi_request
        operation = _operation(schema, request.method, path or request.path)
        if operation is not None:
            documented = error_schema(schema, operation, status)
            assert code in documented["properties"]["code"]["enum"], (
                request.method,
                request.path,
            )
        return body

    return _check


def test_no_credentials_and_a_bad_token_are_401_with_their_codes(api_policy, answers):
    anonymous = APIClient().get(url("me/"))
    answers(anonymous, 401, "not_authenticated")
    assert anonymous["WWW-Authenticate"] == "Bearer"
    bad = APIClient(HTTP_AUTHORIZATION="Token " + "0" * 40).get(url("requests/"))
    assert answers(bad, 401, "authentication_failed")["detail"] == "Invalid token."


def test_a_session_write_without_csrf_is_403_csrf_failed_and_writes_nothing(
    api_policy, user, answers
):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(user("alice"))
    answer = browser.post(url("requests/"), {"roles": ["db-admin"]}, format="json")
    assert answers(answer, 403, "csrf_failed")["detail"].startswith("CSRF Failed")
    assert not AccessRequest.objects.exists()
    assert browser.get(url("me/")).status_code == 200  # reads need no CSRF token


def test_django_s_own_csrf_refusal_is_json_under_api_and_a_page_elsewhere(db, settings):
    settings.ROOT_URLCONF = "tests.requests_app.api.crash_urls"
    client = Client(enforce_csrf_checks=True)
    api_refusal = client.post("/api/test-form/")
    assert api_refusal.status_code == 403
    assert api_refusal.json()["code"] == "csrf_failed"
    page_refusal = client.post("/test-form/")
    assert page_refusal.status_code == 403
    assert page_refusal["Content-Type"].startswith("text/html")


def test_a_method_the_path_does_not_answer_is_405_naming_the_allowed_ones(api, pending, answers):
    answer = api("alice").put(url(f"requests/{pending.id}/"), {}, format="json")
    assert answers(answer, 405, "method_not_allowed")["detail"] == 'Method "PUT" not allowed.'
    assert "GET" in answer["Allow"]


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "text/csv"])
def test_asking_for_anything_but_json_is_406_in_json(api, answers, accept):
    answers(api("alice").get(url("me/"), HTTP_ACCEPT=accept), 406, "not_acceptable")
    body = {"roles": ["db-admin"], "reason": "x"}
    write = api("alice").post(url("requests/"), body, format="json", HTTP_ACCEPT=accept)
    answers(write, 406, "not_acceptable")
    assert not AccessRequest.objects.exists()


def test_a_body_over_the_limit_is_413_too_large(api, answers, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    answer = api("alice").post(url("requests/"), {"reason": "x" * 2000}, format="json")
    assert answers(answer, 413, "too_large")["detail"] == "request body larger than 1000 bytes"


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"]
)
def test_a_body_that_is_not_json_is_415(api, answers, content_type):
    raw = "roles=db-admin"
    answer = api("alice").generic("POST", url("requests/"), raw, content_type=content_type)
    assert answers(answer, 415, "unsupported_media_type")["detail"].startswith(
        "Unsupported media type"
    )
    assert not AccessRequest.objects.exists()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"max_duration": ' + "9" * 5000 + "}", "a number of more than 100 digits"),
        ('{"roles": [' + "1" * 5000 + "]}", "a number of more than 100 digits"),
        (b'{"reason": "\xff"}', "the body is not valid utf-8 at byte 12"),
        ('{"reason": NaN}', "NaN is not valid JSON"),
        ('{"max_duration": 1e400}', "the number 1e400 is out of range"),
        ('{"roles": ', "Expecting value: line 1 column 11"),
    ],
    ids=["huge-int", "huge-int-in-list", "bad-utf8", "nan", "inf", "truncated"],
)
def test_json_parse_errors_say_what_is_wrong_without_python_internals(api, answers, raw, message):
    answer = api("alice").generic("POST", url("requests/"), raw, content_type="application/json")
    body = answers(answer, 400, "parse_error")
    assert body["detail"] == f"JSON parse error - {message}"
    for internal in ("sys.", "set_int_max_str_digits", "codec", "Traceback", "Error:"):
        assert internal not in body["detail"]


# 50 MB of spaces in 49 KB, under the 2.5 MB cap on what the server reads.
ZLIB_BOMB = zlib.compress(b" " * 50_000_000, 9)


@pytest.mark.parametrize("charset", ["base64", "hex", "uu", "rot13", "zlib", "bz2", "latin-1"])
def test_a_charset_json_cannot_be_sent_in_is_415(api, answers, charset):
    """Django takes any codec Python knows as a charset: base64 and hex answered a 500, zlib
    inflated 48 KB to 50 MB past the size cap. JSON is UTF-8 (or UTF-16/32)."""
    client = api("alice")
    for raw in (b'{"roles": ["db-admin"], "reason": "x"}', ZLIB_BOMB):
        answer = client.generic(
            "POST", url("requests/"), raw, content_type=f"application/json; charset={charset}"
        )
        assert answers(answer, 415, "unsupported_media_type")["detail"] == (
            f'charset "{charset}" is not supported: send JSON as UTF-8 (or UTF-16/32)'
        )
    assert not AccessRequest.objects.exists()


@pytest.mark.parametrize("charset", ["utf-8", "UTF8", "utf-16", "utf-32-le"])
def test_json_in_a_unicode_charset_is_read(api, charset):
    raw = json.dumps({"roles": ["db-admin"], "reason": "caf\u00e9"}).encode(charset)
    answer = api("alice").generic(
        "POST", url("requests/"), raw, content_type=f"application/json; charset={charset}"
    )
    assert answer.status_code == 201, answer.content
    assert AccessRequest.objects.get().reason == "caf\u00e9"


def test_the_anonymous_rate_limit_is_429_throttled_with_retry_after(db, answers):
    client = APIClient(REMOTE_ADDR="203.0.113.77")
    with time_machine.travel(timezone.now(), tick=False):
        while client.get("/api/docs/").status_code == 200:
            pass
        # The docs page is HTML, its 429 too (DRF renders it so): JSON all the same.
        for answer in (client.get("/api/docs/"), client.get(url("nothing-here/"))):
            answers(answer, 429, "throttled")
            assert int(answer["Retry-After"]) > 0


def test_the_sign_in_lockout_is_429_sign_in_locked(api_policy, requester, answers, settings):
    client = APIClient(REMOTE_ADDR="203.0.113.78")
    wrong = {"username": "alice", "password": "guess"}
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        answers(client.post(url("auth/token/"), wrong, format="json"), 400, "invalid")
    locked = client.post(url("auth/token/"), wrong, format="json")
    answers(locked, 429, "sign_in_locked")
    assert int(locked["Retry-After"]) > 0


def test_a_crash_in_a_middleware_is_json_under_api_in_debug_too(db, settings, caplog):
    """Django's technical 500 page (DEBUG) is HTML; under /api/ the client gets JSON."""
    settings.DEBUG = True
    settings.ROOT_URLCONF = "tests.requests_app.api.crash_urls"
    # Inside the API's error middleware, before any view: DRF's handler never sees it.
    at = settings.MIDDLEWARE.index("requests_app.api.middleware.ApiErrorMiddleware") + 1
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE[:at],
        CRASHING_MIDDLEWARE,
        *settings.MIDDLEWARE[at:],
    ]
    client = APIClient(raise_request_exception=False, HTTP_X_CRASH="middleware")
    api_crash = client.get(url("me/"))
    assert api_crash.status_code == 500
    assert api_crash.json() == {"detail": "internal server error", "code": "server_error"}
    [logged] = _errors_logged(caplog)
    assert str(logged.exc_info[1]) == "a crash in a middleware"
    assert client.get("/accounts/login/")["Content-Type"].startswith("text/html")


def _errors_logged(caplog) -> list:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_crash_outside_the_views_in_debug_is_logged_once_with_its_traceback(db, settings, caplog):
    """The JSON answer replaces Django's page: Django must not log it a second time."""
    settings.DEBUG = True
    settings.ROOT_URLCONF = "tests.requests_app.api.crash_urls"
    answer = APIClient(raise_request_exception=False).get("/api/test-crash/")
    assert answer.status_code == 500
    [logged] = _errors_logged(caplog)
    assert logged.name == "django.request" and logged.levelname == "ERROR"
    assert str(logged.exc_info[1]) == "a crash outside the API's views"


def test_a_crash_in_an_api_view_is_logged_once_with_its_traceback(
    client_for, debug, monkeypatch, caplog
):
    def broken(**kwargs):
        raise RuntimeError("a bug in the service")

    monkeypatch.setattr(request_views, "access_request_create", broken)
    body = {"roles": ["db-admin"], "reason": "INC-1"}
    assert client_for("alice").post(url("requests/"), body, format="json").status_code == 500
    [logged] = _errors_logged(caplog)
    assert str(logged.exc_info[1]) == "a bug in the service"


def test_a_503_no_api_view_wrote_is_service_unavailable_not_a_database_failure(
    db, settings, answers
):
    settings.ROOT_URLCONF = "tests.requests_app.api.crash_urls"
    answers(APIClient().get("/api/test-unavailable/"), 503, "service_unavailable")


# What the portal's own 400 for a bad Host carries (SecurityMiddleware, django-csp).
SECURITY_HEADERS = (
    "X-Content-Type-Options",
    "Content-Security-Policy",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
)


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1:80:80", "a b", "ex\u00e4mple.com"])
def test_a_bad_host_header_is_json_under_api_and_a_page_elsewhere(
    pending, debug, host, caplog, answers
):
    for path in ("me/", "requests/", f"requests/{pending.id}/"):
        caplog.clear()
        api_answer = Client().get(url(path), HTTP_HOST=host)
        assert answers(api_answer, 400, "bad_host") == {
            "detail": "the Host header names a host this server does not serve",
            "code": "bad_host",
        }
        # Logged once, as Django logs it (with the traceback), not again as a "Bad Request".
        [logged] = _errors_logged(caplog)
        assert logged.name == "django.security.DisallowedHost" and logged.exc_info
    write = Client().post(url("requests/"), {}, HTTP_HOST=host, content_type="application/json")
    answers(write, 400, "bad_host")
    page = Client().get("/accounts/login/", HTTP_HOST=host)
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")
    for header in SECURITY_HEADERS:
        assert api_answer[header] == page[header], header


def test_a_bad_host_refused_by_the_https_redirect_has_the_security_headers_too(
    db, settings, answers
):
    """In production SecurityMiddleware reads the host first (to redirect to HTTPS): its
    refusal never goes back through the security middlewares."""
    page = Client().get("/accounts/login/", HTTP_HOST="evil.example")
    settings.SECURE_SSL_REDIRECT = True
    api_answer = Client().get(url("me/"), HTTP_HOST="evil.example")
    answers(api_answer, 400, "bad_host")
    for header in SECURITY_HEADERS:
        assert api_answer[header] == page[header], header


def test_a_serializer_error_and_a_service_error_on_one_field_answer_one_shape(api, answers):
    """`max_duration: "0"` is malformed (400, the serializer), `"15d"` well-formed but above
    the ceiling (422, the service): one shape all the same."""
    client = api("alice")
    shapes = []
    for value, status, code in (("0", 400, "invalid"), ("15d", 422, "unprocessable")):
        body = {"roles": ["db-admin"], "reason": "x", "max_duration": value}
        refused = answers(client.post(url("requests/"), body, format="json"), status, code)
        assert refused["field"] == "max_duration"
        assert refused["errors"] == {"max_duration": [ANY_TEXT]}
        assert refused["errors"]["max_duration"][0] in refused["detail"]
        shapes.append(sorted(refused))
    assert shapes[0] == shapes[1] == ["code", "detail", "errors", "field"]


def test_every_bad_field_is_named_in_errors_and_the_first_in_field(api, answers):
    body = {"roles": "db-admin", "reason": 5, "dry_run": "maybe"}
    refused = answers(api("alice").post(url("requests/"), body, format="json"), 400, "invalid")
    assert set(refused["errors"]) == {"roles", "reason", "dry_run"}
    assert refused["field"] in refused["errors"]
    assert refused["detail"] == f"{refused['field']}: {refused['errors'][refused['field']][0]}"


def test_a_body_field_named_code_does_not_collide_with_the_error_code(api_policy, answers):
    """The CLI's code exchange has a body field `code`: its errors stay under `errors`."""
    answer = APIClient().post(url("auth/cli/token/"), {"code": 5, "x": 1}, format="json")
    body = answers(answer, 400, "invalid")
    assert body["code"] == "invalid"
    missing = APIClient().post(url("auth/cli/token/"), {"code_verifier": "v"}, format="json")
    body = answers(missing, 400, "invalid")
    assert body["field"] == "code" and list(body["errors"]) == ["code"]


def test_no_longer_pending_is_one_code_wherever_it_comes_from(api, pending, answers):
    api("alice").post(url(f"requests/{pending.id}/withdraw/"), {}, format="json")
    for persona, action, body in [
        ("bob", "reviews", {"state": "APPROVED"}),
        ("sam", "approve", {"reason": "x"}),
        ("sam", "deny", {"reason": "x"}),
        ("alice", "withdraw", {}),
    ]:
        answer = api(persona).post(url(f"requests/{pending.id}/{action}/"), body, format="json")
        assert answers(answer, 409, "not_pending")["detail"] == (
            "this request is withdrawn, no longer pending"
        ), action


def test_access_that_is_not_approved_is_one_code_for_revoke_and_extend(api, pending, answers):
    for action in ("revoke", "extend"):
        answer = api("alice").post(
            url(f"requests/{pending.id}/{action}/"), {"reason": "x"}, format="json"
        )
        answers(answer, 409, "not_approved")


@pytest.mark.parametrize("raw", ["null", "[]", '"x"', "5"])
@pytest.mark.parametrize("path", ["requests/", "credentials/", "auth/token/", "auth/cli/token/"])
def test_a_body_that_is_not_an_object_is_400_in_the_one_shape(api, answers, path, raw):
    """Found by schemathesis: `null` to credentials/ answered a bare list."""
    answer = api("alice").generic("POST", url(path), raw, content_type="application/json")
    body = answers(answer, 400, "invalid")
    assert list(body["errors"]) == ["non_field_errors"] and "field" not in body


def test_a_past_start_time_on_a_review_is_422_unprocessable(api, pending, answers):
    body = {"state": "APPROVED", "assume_start_time": "2020-01-01T00:00:00Z"}
    answer = api("bob").post(url(f"requests/{pending.id}/reviews/"), body, format="json")
    assert answers(answer, 422, "unprocessable")["field"] == "assume_start_time"
    pending.refresh_from_db()
    assert pending.state == "PENDING"


VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636's example: S256(VERIFIER)


def test_a_sign_in_code_unknown_used_or_expired_is_invalid_grant(api_policy, requester, answers):
    """RFC 6749: a code the server cannot take is `invalid_grant`; a malformed body, or a
    verifier that does not match, stays `invalid`."""
    client = APIClient()
    code = cli_login_approve(user=requester, port=51234, code_challenge=CHALLENGE)

    def exchange(code: str, verifier: str = VERIFIER):
        body = {"code": code, "code_verifier": verifier}
        return client.post(url("auth/cli/token/"), body, format="json")

    assert answers(exchange("no-such-code"), 400, "invalid_grant")["detail"].startswith(
        "unknown code"
    )
    answers(exchange(code, "x" * 43), 400, "invalid")
    assert exchange(code).status_code == 200
    assert answers(exchange(code), 400, "invalid_grant")["detail"] == "this code was already used"
    late = cli_login_approve(user=requester, port=51234, code_challenge=CHALLENGE)
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        assert answers(exchange(late), 400, "invalid_grant")["detail"].startswith(
            "this code expired"
        )
