"""Two machines' worth of Access Portal on loopback: two gunicorn servers, two Celery workers
and two beats (started from the units, as two nodes would run them) against one PostgreSQL
database and one Redis. A mixed load goes through both web nodes alternately; nothing fails,
and every notification reaches a real webhook receiver exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests

from tests.deploy.stack import (
    NODES_CACHE_DB,
    Stack,
    clear_redis,
    database_url,
    eventually,
    free_port,
    production_values,
    redis_url,
)
from tests.policies import engineers_and_reviewers
from tests.postgres_server import ScratchDatabase
from tests.worker_support import WEBHOOK_SECRET, WEBHOOK_SECRET_ENV, Receiver, receiver_rule

# A whole deployment on its own scratch database: run once, in the PostgreSQL pass (CI runs
# the suite on SQLite and on PostgreSQL; these do the same work in both).
pytestmark = [pytest.mark.postgres, pytest.mark.redis]

REQUESTERS = [f"eng{i}" for i in range(4)]
REVIEWERS = ["rev0", "rev1"]
ROUNDS = 6  # per requester: create, review, check, list, revoke, check

POLICY = (
    engineers_and_reviewers(REQUESTERS, REVIEWERS)
    + """
---
kind: role
name: integration
spec:
  allow:
    permissions: [requests_app.check_access]
---
kind: user
name: svc-check
roles: [integration]
"""
)


class Nodes:
    """Calls to the two web nodes in turn, as a load balancer without sticky sessions would
    send them; every answer other than the expected one is kept as an error."""

    def __init__(self, urls: list[str], tokens: dict[str, str]) -> None:
        self.urls, self.tokens = urls, tokens
        self.turn = 0
        self.lock = threading.Lock()
        self.errors: list[str] = []
        self.served = Counter()
        self.local = threading.local()

    def call(self, who: str, method: str, path: str, expect: int, **kwargs) -> dict:
        with self.lock:
            base = self.urls[self.turn % len(self.urls)]
            self.turn += 1
        session = getattr(self.local, "session", None) or requests.Session()
        self.local.session = session
        headers = {
            "Authorization": f"Token {self.tokens[who]}",
            # What the TLS-terminating proxy in front of each node sets.
            "X-Forwarded-Proto": "https",
        }
        answer = session.request(method, base + path, headers=headers, timeout=30, **kwargs)
        with self.lock:
            self.served[base] += 1
        if answer.status_code != expect:
            self.errors.append(f"{method} {path} on {base}: {answer.status_code} {answer.text}")
            return {}
        return answer.json()


def sign_in(base: str, name: str, password: str) -> str:
    answer = requests.post(
        f"{base}/api/v1/auth/token/",
        json={"username": name, "password": password},
        headers={"X-Forwarded-Proto": "https"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


def one_requester(nodes: Nodes, requester: str, index: int) -> None:
    for round_ in range(ROUNDS):
        reviewer = REVIEWERS[(index + round_) % len(REVIEWERS)]
        created = nodes.call(
            requester,
            "POST",
            "/api/v1/requests/",
            201,
            json={"roles": ["db-admin"], "reason": f"INC-{index}-{round_}"},
        )
        if not created:
            return
        path = f"/api/v1/requests/{created['id']}"
        approve = round_ % 3 != 2  # one in three is denied
        verdict = "APPROVED" if approve else "DENIED"
        nodes.call(
            reviewer, "POST", f"{path}/reviews/", 201, json={"state": verdict, "reason": "ok"}
        )
        check = f"/api/v1/access/check/?user={requester}&role=db-admin"
        answer = nodes.call("svc-check", "GET", check, 200)
        if answer and answer["allowed"] is not approve:
            nodes.errors.append(f"{requester} round {round_}: check said {answer['allowed']}")
        listing = nodes.call(requester, "GET", "/api/v1/requests/", 200)
        if listing and created["id"] not in {r["id"] for r in listing["results"]}:
            nodes.errors.append(f"{requester}: the listing misses {created['id']}")
        nodes.call(reviewer, "GET", "/api/v1/requests/", 200)
        if approve:
            nodes.call(reviewer, "POST", f"{path}/revoke/", 200, json={"reason": "done"})
            answer = nodes.call("svc-check", "GET", check, 200)
            if answer and answer["allowed"]:
                nodes.errors.append(f"{requester} round {round_}: allowed after revoke")


@pytest.fixture
def receiver():
    receiver = Receiver()
    try:
        yield receiver
    finally:
        receiver.stop()


def test_two_nodes_serve_a_mixed_load_and_notify_each_event_once(tmp_path, receiver):
    database = ScratchDatabase("ap_ops_scale_fix")
    stack = None
    try:
        ports = [free_port(), free_port()]
        values = production_values(
            database_url=database_url(database.dbname),
            public_url="https://access.example.com",
            web_port=ports[0],
            static_root=tmp_path / "static",
            cache_db=NODES_CACHE_DB,
        ) | {
            WEBHOOK_SECRET_ENV: WEBHOOK_SECRET,
            "API_THROTTLE_AUTH_TOKEN": "1000/minute",
            "NOTIFY_HTTP_TIMEOUT": "5",
            "NOTIFY_CLAIM_LEASE": "10",
        }
        clear_redis(redis_url(NODES_CACHE_DB))
        stack = Stack(tmp_path, values)
        stack.manage("migrate", "--noinput")
        stack.apply_policies(POLICY + "---" + receiver_rule(receiver.url))
        passwords = stack.set_passwords("svc-check", *REQUESTERS, *REVIEWERS)
        webs = []
        for node, port in enumerate(ports, start=1):
            webs.append(
                stack.start("web", label=f"web-{node}", env={"GUNICORN_BIND": f"127.0.0.1:{port}"})
            )
            # A node's worker: its own name (as on its own machine), fewer processes here.
            stack.start(
                "worker",
                label=f"worker-{node}",
                args=[f"--hostname=node{node}@%h"],
                replace={"--concurrency=4": "--concurrency=2"},
            )
            stack.start("beat", label=f"beat-{node}")  # one of the two holds the lock
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for web, url in zip(webs, urls, strict=True):
            web.wait_for(lambda url=url: _up(url), f"{web.name} to answer")

        tokens = {name: sign_in(urls[0], name, password) for name, password in passwords.items()}
        nodes = Nodes(urls, tokens)
        with ThreadPoolExecutor(len(REQUESTERS)) as pool:
            for future in [
                pool.submit(one_requester, nodes, name, i) for i, name in enumerate(REQUESTERS)
            ]:
                future.result()

        assert nodes.errors == []
        assert set(nodes.served) == set(urls)  # both nodes served the load
        with psycopg.connect(database.conninfo()) as conn:
            requests_made = conn.execute(
                "SELECT count(*) FROM requests_app_accessrequest"
            ).fetchone()
            assert requests_made == (len(REQUESTERS) * ROUNDS,)

            def delivered() -> list | None:
                rows = conn.execute(
                    "SELECT d.id::text, d.state, m.event FROM requests_app_notificationdelivery d "
                    "JOIN requests_app_outboxmessage m ON m.id = d.message_id "
                    "WHERE d.channel = 'webhook'"
                ).fetchall()
                conn.commit()
                pending = conn.execute(
                    "SELECT count(*) FROM requests_app_outboxmessage WHERE state <> 'SENT'"
                ).fetchone()[0]
                conn.commit()
                return rows if rows and not pending else None

            deliveries = eventually(delivered, "every notification to be sent")
        assert {state for _, state, _ in deliveries} == {"SENT"}
        received = Counter(r.headers["X-AccessPortal-Delivery"] for r in receiver.received)
        assert received == Counter({delivery_id: 1 for delivery_id, _, _ in deliveries})
        assert all(r.verified for r in receiver.received)
        events = Counter(event for _, _, event in deliveries)
        assert events["request.created"] == len(REQUESTERS) * ROUNDS
    finally:
        if stack is not None:
            stack.stop()
            clear_redis(values["CELERY_BROKER_URL"], values["CELERY_REDIS_KEY_PREFIX"])
            clear_redis(values["CACHE_URL"])
        database.drop()


def _up(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=5).status_code == 200
    except requests.RequestException:  # not listening yet, or its workers still booting
        return False
