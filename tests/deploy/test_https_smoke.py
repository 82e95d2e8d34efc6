"""The deployment guide, followed on this machine: migrate and collectstatic, then the web,
worker and beat units' own command lines (without systemd), nginx with the site file of
deploy/nginx and a self-signed certificate, and a request's life driven through HTTPS.

One deployment for the module (starting it is the slow part); each test looks at one thing
an operator or a user would notice.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import uuid

import psycopg
import pytest
import requests

from tests.deploy.nginx import LOAD_BALANCER, NAME, Nginx, SourceAddressAdapter, nginx_or_skip
from tests.deploy.stack import (
    SMOKE_CACHE_DB,
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

# A whole deployment on its own scratch database: run once, in the PostgreSQL pass (CI runs
# the suite on SQLite and on PostgreSQL; these do the same work in both).
pytestmark = [pytest.mark.postgres, pytest.mark.redis]

POLICY = engineers_and_reviewers(["alice"], ["bob"])


class Deployment:
    def __init__(self, stack: Stack, nginx: Nginx, values: dict, passwords: dict, database) -> None:
        self.stack, self.nginx, self.values, self.passwords = stack, nginx, values, passwords
        self.database = database
        self.base = nginx.https
        self.web, self.worker, self.beat = stack.services

    def client(self, source: str | None = None) -> requests.Session:
        """A session trusting the test certificate; connecting from `source` if given."""
        session = requests.Session()
        if source:
            session.mount("https://", SourceAddressAdapter(source))
            session.mount("http://", SourceAddressAdapter(source))
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
    database = ScratchDatabase("ap_ops_scale_fix")
    web_port = free_port()
    nginx = stack = None
    try:
        nginx = Nginx(workdir / "nginx", upstream=f"127.0.0.1:{web_port}")
        values = production_values(
            database_url=database_url(database.dbname),
            public_url=nginx.https,
            web_port=web_port,
            static_root=workdir / "static",
            cache_db=SMOKE_CACHE_DB,
        )
        clear_redis(redis_url(SMOKE_CACHE_DB))
        stack = Stack(workdir / "stack", values)
        # Once per deploy, as the guide says.
        stack.manage("migrate", "--noinput")
        stack.manage("collectstatic", "--noinput")
        stack.apply_policies(POLICY)
        passwords = stack.set_passwords("alice", "bob")
        for name in ("web", "worker", "beat"):
            stack.start(name)
        deployment = Deployment(stack, nginx, values, passwords, database)
        deployment.web.wait_for(
            lambda: _answers(deployment, "/healthz"), "gunicorn to answer through nginx"
        )
        yield deployment
    finally:
        if stack is not None:
            stack.stop()
            clear_redis(values["CELERY_BROKER_URL"], values["CELERY_REDIS_KEY_PREFIX"])
            clear_redis(values["CACHE_URL"])
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
    # The probes are not redirected over plain HTTP (a load balancer's health check), and
    # are answered when addressed to the node's IP address (not in DJANGO_ALLOWED_HOSTS).
    for host in (None, "10.0.0.5"):
        for path in ("/healthz", "/readyz"):
            plain = requests.get(
                deployment.nginx.http + path,
                headers={"Host": host} if host else {},
                allow_redirects=False,
                timeout=10,
            )
            assert plain.status_code == 200, (host, path, plain.status_code, plain.text)


def test_metrics_answer_only_the_bearer_token(deployment):
    client = deployment.client()
    url = f"{deployment.base}/metrics"
    token = deployment.values["METRICS_TOKEN"]
    with_token = client.get(url, headers={"Authorization": f"Bearer {token}"})
    without = client.get(url)
    wrong = client.get(url, headers={"Authorization": "Bearer not-the-token"})
    # Through nginx and gunicorn (several workers, one multiprocess folder): Prometheus'
    # text format with the domain's series and the HTTP metrics of every worker.
    assert with_token.status_code == 200, with_token.text[:500]
    assert with_token.headers["Content-Type"].startswith("text/plain")
    assert "# HELP accessportal_requests_total " in with_token.text
    assert "\naccessportal_grants_open " in with_token.text
    assert "django_http_responses_total_by_status_view_method_total{" in with_token.text
    assert without.status_code == 401 and wrong.status_code == 401
    assert token not in with_token.text + without.text + wrong.text


def test_the_daily_audit_verification_unit_feeds_the_metrics(deployment):
    """accessportal-verify-audit.service (run by its timer) records a whole audit log,
    which /metrics reports for the "audit not verified" and "audit broken" alerts."""
    done = deployment.stack.run_once("verify-audit")
    assert done.returncode == 0, done.stdout + done.stderr
    token = deployment.values["METRICS_TOKEN"]

    def verified() -> bool:
        text = (
            deployment.client()
            .get(f"{deployment.base}/metrics", headers={"Authorization": f"Bearer {token}"})
            .text
        )
        return "\naccessportal_audit_verification_ok 1.0\n" in text

    # The state gauges are cached for METRICS_DB_CACHE seconds (15 by default).
    eventually(verified, "/metrics to report the verification")


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


def test_plain_http_is_redirected_to_https_under_the_service_name_only(deployment):
    http = deployment.nginx.http
    answer = requests.get(f"{http}/api/v1/me/?x=1", allow_redirects=False, timeout=10)
    # 308: a client following it repeats a POST as a POST, body and all.
    assert answer.status_code == 308
    assert answer.headers["Location"] == f"{deployment.base}/api/v1/me/?x=1"
    posted = requests.post(f"{http}/api/v1/requests/", json={}, allow_redirects=False)
    assert posted.status_code == 308
    # Followed, it lands on the API over HTTPS (which then wants a token).
    followed = deployment.client().get(answer.headers["Location"])
    assert followed.status_code == 401
    # Asked for another host name, nginx answers nothing at all: no redirect to it.
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{http}/", headers={"Host": "evil.example"}, allow_redirects=False)


def test_https_for_another_host_name_or_none_is_refused_in_the_handshake(deployment):
    port = deployment.nginx.https_port
    for name in ("evil.example", None):  # None: no SNI, as a client of https://127.0.0.1/
        context = ssl.create_default_context(cafile=str(deployment.nginx.cert))
        context.check_hostname = False  # nginx refuses before any certificate is seen
        refused = pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME|unrecognized name")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, refused:
            context.wrap_socket(raw, server_hostname=name)


def test_tls_1_2_offers_only_forward_secret_aead_ciphers_and_no_version(deployment):
    def handshake(ciphers: str) -> str:
        context = ssl.create_default_context(cafile=str(deployment.nginx.cert))
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(ciphers)
        address = ("127.0.0.1", deployment.nginx.https_port)
        with (
            socket.create_connection(address, timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=NAME) as tls,
        ):
            return tls.cipher()[0]

    assert handshake("ECDHE-ECDSA-AES128-GCM-SHA256") == "ECDHE-ECDSA-AES128-GCM-SHA256"
    assert handshake("ECDHE-ECDSA-CHACHA20-POLY1305") == "ECDHE-ECDSA-CHACHA20-POLY1305"
    for cbc in ("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384"):
        with pytest.raises(ssl.SSLError):
            handshake(f"{cbc}@SECLEVEL=0")
    answer = deployment.client().get(f"{deployment.base}/healthz")
    assert answer.headers["Server"] == "nginx"  # server_tokens off: no version


def test_the_app_sees_the_client_address_nginx_found_not_one_the_client_wrote(deployment):
    """What the login throttle (django-axes) records as the failed sign-in's address."""
    url = f"{deployment.base}/api/v1/auth/token/"

    def failed_sign_in(session: requests.Session, forwarded: str) -> str:
        username = f"nobody-{uuid.uuid4().hex[:8]}"
        answer = session.post(
            url,
            json={"username": username, "password": "wrong"},
            headers={"X-Forwarded-For": forwarded},
        )
        assert answer.status_code in (400, 401), answer.text
        with psycopg.connect(deployment.database.conninfo()) as conn:
            [(address,)] = conn.execute(
                "SELECT ip_address FROM axes_accessattempt WHERE username = %s", (username,)
            ).fetchall()
        return str(address)

    # A client connecting directly cannot choose its address by writing the header.
    assert failed_sign_in(deployment.client(), "198.51.100.66") == "127.0.0.1"
    # Behind the load balancer (set_real_ip_from), the address it appended is the client's;
    # what the client wrote before it is not.
    balancer = deployment.client(source=LOAD_BALANCER)
    assert failed_sign_in(balancer, "198.51.100.66, 203.0.113.9") == "203.0.113.9"


def test_readyz_is_rate_limited_per_client_and_healthz_is_not(deployment):
    flooder = deployment.client(source="127.0.0.3")  # its own address: its own limit
    statuses = []
    for _ in range(100):  # far more than the burst the site allows (10)
        statuses.append(flooder.get(f"{deployment.base}/readyz", timeout=10).status_code)
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429, statuses
    assert flooder.get(f"{deployment.base}/healthz").status_code == 200
    # Others are not held back by that client.
    assert deployment.client().get(f"{deployment.base}/readyz").status_code != 429


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
        for line in service.output().split("\n")[:-1]:  # not a line still being written
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
