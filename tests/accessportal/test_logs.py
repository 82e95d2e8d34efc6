"""Logs (README "Logs", docs/operations.md): each line of a request carries its request id
and user, the id follows the request into the tasks it queued, secrets never reach a line,
JSON in production and text in development, and no noise on every manage.py call."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accessportal.logs.config import logging_config

ROOT = Path(__file__).resolve().parent.parent.parent


def _capture(log_format: str):
    stream = io.StringIO()
    logging.config.dictConfig(logging_config(log_format=log_format, level="INFO"))
    logging.getLogger().handlers[0].setStream(stream)
    return stream


@pytest.fixture
def json_lines():
    """The JSON lines written while the test runs, parsed (the production configuration)."""
    stream = _capture("json")
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logging.config.dictConfig(django_settings.LOGGING)


@pytest.fixture
def text_lines():
    stream = _capture("text")
    yield lambda: stream.getvalue().splitlines()
    logging.config.dictConfig(django_settings.LOGGING)


def _client(person) -> APIClient:
    client = APIClient(raise_request_exception=False)
    token, _ = Token.objects.get_or_create(user=person)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def test_a_request_id_from_the_proxy_is_answered_and_on_every_line(requester, json_lines):
    missing = "/api/v1/requests/00000000-0000-4000-8000-000000000000/"
    answer = _client(requester).get(missing, HTTP_X_REQUEST_ID="proxy-id-0001")
    assert answer.status_code == 404
    assert answer["X-Request-ID"] == "proxy-id-0001"
    lines = json_lines()
    assert any(line["logger"] == "django.request" for line in lines)  # Django's own line
    assert lines and all(line["request_id"] == "proxy-id-0001" for line in lines)
    assert all(line["user"] == "alice" for line in lines)


def test_a_portal_user_signed_in_by_session_is_on_the_lines(requester, client, json_lines):
    client.force_login(requester)
    signing_in = len(json_lines())  # axes' lines for force_login: no request
    answer = client.get("/requests/00000000-0000-4000-8000-000000000000/")
    assert answer.status_code == 404
    lines = json_lines()[signing_in:]
    assert lines and all(line["user"] == "alice" for line in lines)
    assert {line["request_id"] for line in lines} == {answer["X-Request-ID"]}


@pytest.mark.parametrize(
    "incoming", ["short", "x" * 129, "has space in it", 'quote"injected"', "new\nline-000"]
)
def test_an_insane_incoming_id_is_replaced_by_a_new_one(db, client, incoming, json_lines):
    answer = client.get("/no-such-page/", HTTP_X_REQUEST_ID=incoming)
    request_id = answer["X-Request-ID"]
    assert request_id != incoming and len(request_id) == 32
    int(request_id, 16)  # a uuid4 in hex
    assert {line["request_id"] for line in json_lines()} == {request_id}


def test_without_an_incoming_id_each_request_gets_its_own(db, client):
    first = client.get("/no-such-page/")["X-Request-ID"]
    second = client.get("/no-such-page/")["X-Request-ID"]
    assert len(first) == 32 and first != second


def test_json_lines_have_the_documented_fields(db, client, json_lines):
    client.get("/no-such-page/", HTTP_X_REQUEST_ID="fields-check-1")
    line = json_lines()[0]
    assert {"timestamp", "level", "logger", "message", "request_id", "user"} <= set(line)
    assert line["level"] == "WARNING" and line["message"] == "Not Found: /no-such-page/"
    assert line["user"] == "-"  # anonymous


@pytest.mark.django_db(transaction=True)  # real commits: the tasks are queued on commit
def test_tasks_queued_by_a_request_log_its_id(requester, reviewer, json_lines, settings):
    """Eager tasks (the test settings) run inside the request; the worker's side of the
    same header is in test_a_live_worker_logs_the_id_of_the_request_that_queued_the_task."""
    settings.EMAIL_BACKEND = "accessportal.logs.mail.LogEmailBackend"
    reviewer.email = "bob@example.com"
    reviewer.save()
    answer = _client(requester).post(
        "/api/v1/requests/",
        {"roles": ["db-admin"], "reason": "INC-1"},
        format="json",
        HTTP_X_REQUEST_ID="follow-me-0001",
    )
    assert answer.status_code == 201, answer.content
    emails = [line for line in json_lines() if line["logger"] == "accessportal.mail"]
    assert emails, json_lines()
    for line in emails:
        assert line["request_id"] == "follow-me-0001"
        assert line["task"] == "requests_app.tasks.dispatch_outbox_message"
        assert line["task_id"] != "-"
        assert line["level"] == "INFO" and "\n" not in line["message"]  # one line, no body


def test_a_task_published_without_a_request_gets_its_own_id():
    from accessportal.logs.celery import HEADER, on_before_task_publish

    beat_headers, other_headers = {}, {}
    on_before_task_publish(headers=beat_headers)
    on_before_task_publish(headers=other_headers)
    assert len(beat_headers[HEADER]) == 32 and beat_headers[HEADER] != other_headers[HEADER]


@pytest.mark.parametrize(
    ("secret", "shown"),
    [
        ("Authorization: Token 0123456789abcdef0123", "Authorization: [redacted]"),
        ("{'HTTP_AUTHORIZATION': 'Bearer eyJhbGciOi.x.y'}", "'HTTP_AUTHORIZATION': '[redacted]'"),
        ("sent Bearer eyJhbGciOiJIUzI1NiJ9.abc.def", "Bearer [redacted]"),
        ("session apt_3f9c0d5e8a7b6c1d2e3f40516273849aabbccddeeff0011", "apt_[redacted]"),
        ("postgres://portal:s3cr3t-pw@db:5432/portal", "postgres://portal:[redacted]@db"),
        ("host=db password=s3cr3t-pw dbname=portal", "password=[redacted] dbname"),
        ("GET /x?api_key=s3cr3t-pw&page=2", "api_key=[redacted]&page=2"),
        ("https://hooks.slack.com/services/T0/B0/s3cr3t-pw", "hooks.slack.com/services/[redacted]"),
    ],
)
def test_secrets_are_redacted_in_messages_and_arguments(secret, shown, json_lines):
    logging.getLogger("anything").warning("as message: " + secret.replace("%", "%%"))
    logging.getLogger("anything").warning("as argument: %s", secret)
    for line in json_lines():
        assert "s3cr3t-pw" not in line["message"] and "0123456789abcdef" not in line["message"]
        assert "eyJhbGciOi" not in line["message"] and "aabbccddeeff" not in line["message"]
        assert shown in line["message"]


def test_a_secret_in_a_traceback_is_redacted(json_lines):
    try:
        raise ConnectionError("could not connect to redis://:s3cr3t-pw@cache:6379/0")
    except ConnectionError:
        logging.getLogger("anything").exception("broker down")
    (line,) = json_lines()
    assert "ConnectionError" in line["exc_info"] and "s3cr3t-pw" not in line["exc_info"]


def test_development_lines_are_readable_text(db, client, text_lines):
    client.get("/no-such-page/", HTTP_X_REQUEST_ID="text-check-01")
    (line,) = text_lines()
    assert " WARNING django.request [text-check-01 -] Not Found: /no-such-page/" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "accessportal.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_manage_py_prints_no_axes_banner():
    done = _manage("check")
    assert done.returncode == 0, done.stderr
    assert "AXES" not in done.stdout + done.stderr


def test_production_mode_defaults_to_json_and_log_format_overrides_it():
    code = "from django.conf import settings; print(settings.LOG_FORMAT)"
    production = {
        "ACCESSPORTAL_MODE": "production",
        "DJANGO_SECRET_KEY": "k" * 20 + "-Zq8vN3xR7pL2mW9tY4bH6jK1cF5gD0sA-u",
        "DJANGO_ALLOWED_HOSTS": "portal.example.com",
        "CACHE_URL": "redis://127.0.0.1:6379/1",  # production requires one; not contacted
        "DATABASE_URL": "postgres://accessportal@127.0.0.1:9/accessportal",  # never queried
        "NOTIFY_REQUEST_URL": "https://portal.example.com/requests/{id}/",
        "LOG_FORMAT": "",
    }

    def log_format(**env: str) -> str:
        return _manage("shell", "-c", code, **env).stdout.split()[-1]

    assert log_format(**production) == "json"
    assert log_format(**(production | {"LOG_FORMAT": "text"})) == "text"
    assert log_format(ACCESSPORTAL_MODE="development") == "text"
    refused = _manage("check", LOG_FORMAT="xml")
    assert refused.returncode != 0 and "LOG_FORMAT must be 'json' or 'text'" in refused.stderr
