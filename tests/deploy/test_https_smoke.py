"""The deployment guide, followed on this machine: migrate and collectstatic, then the web,
worker and beat units' own command lines (without systemd), nginx with the site file of
deploy/nginx and a self-signed certificate, and a request's life driven through HTTPS.

One deployment for the module (starting it is the slow part); each test looks at one thing
an operator or a user would notice.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
import requests

from tests.deploy.nginx import Nginx, nginx_or_skip
from tests.deploy.stack import (
    CACHE_DB,
    Stack,
    clear_redis,
    database_url,
    eventually,
    free_port,
    production_values,
    redis_url,
)
from tests.postgres_server import ScratchDatabase

pytestmark = [pytest.mark.postgres(direct=True), pytest.mark.redis]

POLICY = """
kind: role
name: engineer
spec:
  allow:
    request: {roles: [db-admin]}
---
kind: role
name: db-admin
---
kind: role
name: reviewer
spec:
  allow:
    review_requests: {roles: [db-admin]}
---
kind: user
name: alice
roles: [engineer]
---
kind: user
name: bob
roles: [reviewer]
"""


class Deployment:
    def __init__(self, stack: Stack, nginx: Nginx, values: dict, passwords: dict) -> None:
        self.stack, self.nginx, self.values, self.passwords = stack, nginx, values, passwords
        self.base = nginx.https
        self.web, self.worker, self.beat = stack.services

    def client(self) -> requests.Session:
        session = requests.Session()
        # The self-signed certificate is checked; without trust_env, a REQUESTS_CA_BUNDLE
        # in the environment would take its place (and a proxy setting would apply).
        session.trust_env = False
        session.verify = str(self.nginx.cert)
        return session

    def token(self, name: str) -> requests.Session:
        """A session signed in to the API as `name` (POST /api/v1/auth/token/)."""
        session = self.client()
        answer = session.post(
            f"{self.base}/api/v1/auth/token/",
            json={"username": name, "password": self.passwords[name]},
        )
        assert answer.status_code == 200, answer.text
        session.headers["Authorization"] = f"Token {answer.json()['token']}"
        return session


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    nginx_or_skip()
    workdir = tmp_path_factory.mktemp("deployment")
    database = ScratchDatabase("ap_ops_scale")
    web_port = free_port()
    nginx = stack = None
    try:
        nginx = Nginx(workdir / "nginx", upstream=f"127.0.0.1:{web_port}")
        values = production_values(
            database_url=database_url(database.dbname),
            public_url=nginx.https,
            web_port=web_port,
            static_root=workdir / "static",
        )
        clear_redis(redis_url(CACHE_DB))
        stack = Stack(workdir / "stack", values)
        # Once per deploy, as the guide says.
        stack.manage("migrate", "--noinput")
        stack.manage("collectstatic", "--noinput")
        stack.apply_policies(POLICY)
        passwords = stack.set_passwords("alice", "bob")
        for name in ("web", "worker", "beat"):
            stack.start(name)
        deployment = Deployment(stack, nginx, values, passwords)
        deployment.web.wait_for(
            lambda: _answers(deployment, "/healthz"), "gunicorn to answer through nginx"
        )
        yield deployment
    finally:
        if stack is not None:
            stack.stop()
            clear_redis(values["CELERY_BROKER_URL"], values["CELERY_REDIS_KEY_PREFIX"])
        if nginx is not None:
            nginx.stop()
        database.drop()


def _answers(deployment: Deployment, path: str) -> bool:
    try:
        return deployment.client().get(deployment.base + path, timeout=5).status_code == 200
    except requests.RequestException:  # not listening yet, or its workers still booting
        return False


def test_request_is_created_approved_checked_and_revoked_through_https(deployment):
    alice, bob = deployment.token("alice"), deployment.token("bob")
    api = f"{deployment.base}/api/v1"
    check = f"{api}/access/check/?role=db-admin"
    assert alice.get(check).json()["allowed"] is False

    created = alice.post(f"{api}/requests/", json={"roles": ["db-admin"], "reason": "INC-42"})
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]
    assert created.json()["state"] == "PENDING"

    review = bob.post(
        f"{api}/requests/{request_id}/reviews/", json={"state": "APPROVED", "reason": "ok"}
    )
    assert review.status_code == 201, review.text
    assert alice.get(f"{api}/requests/{request_id}/").json()["state"] == "APPROVED"
    assert alice.get(check).json()["allowed"] is True

    revoked = bob.post(f"{api}/requests/{request_id}/revoke/", json={"reason": "done"})
    assert revoked.status_code == 200, revoked.text
    assert alice.get(check).json()["allowed"] is False


def test_probes_answer_and_readiness_comes_with_worker_and_beat(deployment):
    client = deployment.client()
    assert client.get(f"{deployment.base}/healthz").json() == {"status": "ok"}

    def ready():
        answer = client.get(f"{deployment.base}/readyz", timeout=10)
        return answer if answer.status_code == 200 else None

    answer = deployment.beat.wait_for(ready, "/readyz to say ready (worker and beat heartbeats)")
    checks = {check["name"]: check["state"] for check in answer.json()["checks"]}
    assert checks["heartbeats"] == "ok" and checks["broker"] == "ok", answer.text
    assert set(checks.values()) == {"ok"}, answer.text
    # The probes are not redirected over plain HTTP (a load balancer's health check).
    plain = requests.get(f"{deployment.nginx.http}/readyz", allow_redirects=False, timeout=10)
    assert plain.status_code == 200


def test_metrics_answer_only_the_bearer_token(deployment):
    client = deployment.client()
    url = f"{deployment.base}/metrics"
    token = deployment.values["METRICS_TOKEN"]
    with_token = client.get(url, headers={"Authorization": f"Bearer {token}"})
    without = client.get(url)
    # This branch has no /metrics yet (ops-metrics adds it): both answer 404, and neither
    # shows anything of the token.
    assert with_token.status_code == 404
    assert without.status_code == 404
    assert token not in with_token.text and token not in without.text


def test_static_files_are_served_with_a_long_cache_header(deployment):
    client = deployment.client()
    page = client.get(f"{deployment.base}/admin/login/")
    assert page.status_code == 200
    # collectstatic's content-hashed name, as the page links it.
    css = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page.text)
    assert css, page.text[:2000]
    asset = client.get(deployment.base + css.group(1))
    assert asset.status_code == 200
    assert asset.headers["Content-Type"].startswith("text/css")
    max_age = re.search(r"max-age=(\d+)", asset.headers["Cache-Control"])
    assert max_age and int(max_age.group(1)) >= 365 * 24 * 3600, asset.headers


def test_plain_http_is_redirected_to_https(deployment):
    answer = requests.get(
        f"{deployment.nginx.http}/api/v1/me/?x=1", allow_redirects=False, timeout=10
    )
    assert answer.status_code == 301
    assert answer.headers["Location"] == f"{deployment.base}/api/v1/me/?x=1"
    # Followed, it lands on the API over HTTPS (which then wants a token).
    followed = deployment.client().get(answer.headers["Location"])
    assert followed.status_code == 401


def test_logs_are_json_lines_with_the_request_id_nginx_gave(deployment):
    alice = deployment.token("alice")
    api = f"{deployment.base}/api/v1"
    # A client cannot choose its request id, nor say the request came in plain HTTP:
    # nginx replaces both headers with its own.
    spoofed = {"X-Request-ID": f"client-{uuid.uuid4().hex[:8]}", "X-Forwarded-Proto": "http"}

    missing = alice.get(f"{api}/requests/{uuid.uuid4()}/", headers=spoofed)
    assert missing.status_code == 404  # not a redirect: nginx's X-Forwarded-Proto counted
    created = alice.post(
        f"{api}/requests/", json={"roles": ["db-admin"], "reason": "INC-43"}, headers=spoofed
    )
    assert created.status_code == 201, created.text
    ids = [answer.headers["X-Request-ID"] for answer in (missing, created)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids) and ids[0] != ids[1], ids
    # nginx's own ids; it writes a request's line once the request is finished, which may
    # be a moment after the client has read the answer.
    eventually(
        lambda: all(f" {i}\n" in deployment.nginx.access_log.read_text() for i in ids),
        "nginx's access log to show both request ids",
    )

    def records_with(request_id: str, service) -> list[dict]:
        found = []
        for line in service.output().splitlines():
            if request_id in line:
                record = json.loads(line)  # every line with the id is a JSON object
                assert record["request_id"] == request_id, line
                found.append(record)
        return found

    # Django logs the 404 with the id; the worker logs the tasks the create queued with it.
    [logged] = records_with(ids[0], deployment.web)
    assert logged["status_code"] == 404 and logged["level"] == "WARNING"
    deployment.worker.wait_for(
        lambda: records_with(ids[1], deployment.worker), "the worker to log the request's task"
    )
    assert spoofed["X-Request-ID"] not in deployment.web.output()
    assert spoofed["X-Request-ID"] not in deployment.worker.output()
