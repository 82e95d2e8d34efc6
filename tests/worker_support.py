"""Helpers for tests of workers and notifications: a real local webhook receiver, the
webhook verification snippet from docs/notifications.md, switching the Celery broker of the
test process, and a real Celery worker process (with beat) against the test database."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import kombu.pools
from django.conf import settings
from django.db import connection

from accessportal.celery import app as celery_app
from requests_app.services.publisher import publisher_drain

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("ACCESSPORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/1")
WEBHOOK_SECRET = "test-webhook-secret-6f1c"
WEBHOOK_SECRET_ENV = "ACCESSPORTAL_TEST_WEBHOOK_SECRET"


def documented_verifier() -> Callable[..., bool]:
    """`verify_webhook` exactly as docs/notifications.md shows it to receivers."""
    text = (ROOT / "docs" / "notifications.md").read_text()
    section = text.split("### Verifying a webhook", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "docs/notifications.md", "exec"), namespace)  # our own documentation
    return namespace["verify_webhook"]


@dataclass
class Received:
    path: str
    headers: Message
    body: bytes
    verified: bool
    status: int | None  # what the receiver answered; None: it hung up without answering

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def event(self) -> str:
        return self.headers.get("X-AccessPortal-Event", "")


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1 (http.server in a thread) that checks signatures.

    `statuses` are answered in order (then 200). With `hold_first`, the first request is
    read and then held unanswered until `release()`, after which the connection is closed
    without an answer (a sender killed mid-request never hears back).
    """

    secret: str = WEBHOOK_SECRET
    statuses: deque = field(default_factory=deque)
    hold_first: bool = False
    received: list[Received] = field(default_factory=list)
    first_arrived: threading.Event = field(default_factory=threading.Event)
    _released: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        verify = documented_verifier()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = self.headers  # case-insensitive, as in any web framework
                record = Received(
                    self.path, headers, body, verify(receiver.secret.encode(), headers, body), None
                )
                receiver.received.append(record)
                if receiver.hold_first and not receiver.first_arrived.is_set():
                    receiver.first_arrived.set()
                    receiver._released.wait(60)
                    self.close_connection = True
                    return
                receiver.first_arrived.set()
                status = receiver.statuses.popleft() if receiver.statuses else 200
                record.status = status
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def release(self) -> None:
        self._released.set()

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def accepted(self) -> list[Received]:
        return [r for r in self.received if r.status and 200 <= r.status < 300]


def hooks(receiver: Receiver, event: str) -> list[Received]:
    """The webhooks of one event type that `receiver` accepted."""
    return [r for r in receiver.accepted() if r.event == event]


def receiver_rule(url: str) -> str:
    """Policy YAML: a notification rule sending every event to the webhook at `url`, signed
    with the secret named by WEBHOOK_SECRET_ENV."""
    return f"""
kind: notification_rule
name: receiver
spec:
  channels:
    - {{type: webhook, url: "{url}", secret_env: {WEBHOOK_SECRET_ENV}}}
"""


@contextmanager
def webhook_receiver(apply_yaml, monkeypatch) -> Iterator[Receiver]:
    """A Receiver with a rule (applied through `apply_yaml`) sending every event to it;
    stopped on the way out."""
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, WEBHOOK_SECRET)
    receiver = Receiver()
    apply_yaml(receiver_rule(receiver.url))
    try:
        yield receiver
    finally:
        receiver.stop()


def _reset_producers() -> None:
    """Close and forget connections and producers made for the previous broker URL."""
    kombu.pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextmanager
def broker(url: str, *, key_prefix: str = "") -> Iterator[None]:
    """Publish from this test process to a real broker (no eager tasks) for the duration."""
    conf = celery_app.conf
    saved = (conf.broker_url, conf.task_always_eager, conf.broker_transport_options)
    _reset_producers()
    conf.broker_url = url
    conf.task_always_eager = False
    # As production sets them for a Redis broker (timeouts included).
    conf.broker_transport_options = settings.REDIS_BROKER_TRANSPORT_OPTIONS | {
        "global_keyprefix": key_prefix
    }
    try:
        yield
    finally:
        # Publishes still queued in the background go to this broker, not the next one
        # (nor run in-process once tasks are eager again).
        assert publisher_drain(60), "publishes still pending after 60 s"
        _reset_producers()
        conf.broker_url, conf.task_always_eager, conf.broker_transport_options = saved


def database_url() -> str:
    """The URL of the database this test runs against (pytest-django's test database)."""
    s = connection.settings_dict
    auth = quote(s["USER"] or "")
    if s["PASSWORD"]:
        auth += ":" + quote(s["PASSWORD"])
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class WorkerProcess:
    """`celery worker --beat` in its own session (so a test can kill it like a crash).
    `pool`: Celery's pool (threads by default; prefork runs tasks in child processes)."""

    def __init__(
        self, workdir: Path, key_prefix: str, extra_env: dict[str, str], *, pool: str = "threads"
    ) -> None:
        self.log_path = workdir / f"worker-{uuid.uuid4().hex[:8]}.log"
        self.key_prefix = key_prefix
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "accessportal.settings",
            "ACCESSPORTAL_MODE": "development",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": REDIS_URL,
            "CELERY_REDIS_KEY_PREFIX": key_prefix,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "ACCESSPORTAL_SWEEP_INTERVAL": "1",
            "NOTIFY_HTTP_TIMEOUT": "5",
            "NOTIFY_CLAIM_LEASE": "6",
            "NOTIFY_RETRY_BACKOFF": "1",
            "NOTIFY_EMAIL_USERS": "false",
            # A worker started after one was killed gets its beat lock soon (settings).
            "BEAT_LOCK_TIMEOUT": "6",
            WEBHOOK_SECRET_ENV: WEBHOOK_SECRET,
            **extra_env,
        }
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "accessportal",
            "worker",
            "--beat",
            f"--schedule={workdir / 'beat-schedule'}",
            f"--pool={pool}",
            "--concurrency=2",
            "--loglevel=INFO",
            "--without-mingle",
            "--without-gossip",
            f"--hostname=test-{uuid.uuid4().hex[:8]}@%h",
        ]
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_until(lambda: " ready." in self.output(), "the worker to start")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited waiting for {what}:\n{self.output()}")
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; worker log:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL the worker and its beat: a crash, nothing gets to clean up."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def delete_broker_keys(key_prefix: str) -> None:
    """Remove what a test left in Redis under its own key prefix."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{key_prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
