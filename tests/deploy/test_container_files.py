"""The container files, checked without a Docker daemon (CI builds the image when it has
one: .ci/run): the final stage runs as an unprivileged user without compilers, the
entrypoint runs exactly the guide's commands for the compose services, compose.yaml parses
and names files that exist, and it cannot start without its secrets.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "container" / "entrypoint.sh"
HEALTHCHECK = ROOT / "deploy" / "container" / "healthcheck.py"
COMPILERS = ("build-essential", "gcc", "g++", "clang", "make", "cc")


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments), continuation
    lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction.upper(), args.strip()))
    return stages


def guide_commands() -> dict[str, str]:
    """The process table at the top of docs/deploy.md: {"web": "gunicorn ...", ...}."""
    rows = re.findall(r"^\| (web|worker|beat) \| `([^`]+)` \|", (ROOT / "docs" / "deploy.md")
                      .read_text(), flags=re.MULTILINE)  # fmt: skip
    return dict(rows)


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_the_final_stage_is_python_slim_and_runs_as_an_unprivileged_user():
    *builders, final = dockerfile_stages()
    assert builders, "a multi-stage build: the wheels are made in a builder stage"
    assert final[0] == ("FROM", "python:3.11-slim-bookworm")
    users = [args for instruction, args in final if instruction == "USER"]
    assert users, "the final stage sets a USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    created = " ".join(args for instruction, args in final if instruction == "RUN")
    assert re.search(rf"useradd\b[^&]*--uid \d+[^&]*\b{user}\b", created), "the user is created"
    assert dict(final)["ENTRYPOINT"] == json.dumps(["/app/" + str(ENTRYPOINT.relative_to(ROOT))])


def test_compilers_are_in_the_builder_only():
    *builders, final = dockerfile_stages()
    builder_runs = " ".join(a for stage in builders for i, a in stage if i == "RUN")
    assert "build-essential" in builder_runs
    final_runs = [a for i, a in final if i == "RUN"]
    for run in final_runs:
        words = set(re.split(r"[\s;&|]+", run))
        if "apt-get" in words:
            assert not words & set(COMPILERS), run
    copied = [a for i, a in final if i == "COPY" and a.startswith("--from=")]
    assert copied == ["--from=builder /wheels /wheels"], "only the wheels come from the builder"


def test_static_files_are_collected_at_build_time_with_a_throwaway_key():
    *_, final = dockerfile_stages()
    [collect] = [a for i, a in final if i == "RUN" and "collectstatic" in a]
    assert "python manage.py collectstatic --noinput" in collect
    assert 'DJANGO_SECRET_KEY="$(python -c' in collect, "a key made for this step only"
    environment = " ".join(a for i, a in final if i in {"ENV", "ARG"})
    assert "DJANGO_SECRET_KEY" not in environment, "no key is kept in the image"
    assert "ACCESSPORTAL_MODE=production" in environment  # the manifest production reads


def test_the_files_the_dockerfile_and_compose_name_exist_and_the_image_keeps_them():
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line and not line.startswith("#")]  # fmt: skip
    for needed in ("pyproject.toml", "README.md", "manage.py", "accessportal", "deploy"):
        assert (ROOT / needed).exists() and needed not in ignored
    for secret in (
        ".env",
        "**/.env.*",
        "**/*.pem",
        "**/*.key",
        "**/*.dump",
        ".dev-secret-key",
        ".venv",
        ".git",
        "*.sqlite3",
    ):
        assert secret in ignored
    for service in compose()["services"].values():
        if service.get("build"):
            assert (ROOT / service["build"] / "Dockerfile").is_file()
        test = service.get("healthcheck", {}).get("test", [])
        for word in test:
            if word.startswith("deploy/"):
                assert (ROOT / word).is_file(), word
    assert os.access(ENTRYPOINT, os.X_OK)


def run_entrypoint(tmp_path: Path, *args: str) -> list[str]:
    """The entrypoint run for real, with gunicorn, celery and python replaced by programs
    that print the command line they were given."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("gunicorn", "celery", "python"):
        stub = bin_dir / name
        stub.write_text(f'#!/bin/sh\nprintf "%s\\n" {name} "$@"\n')
        stub.chmod(0o755)
    result = subprocess.run(
        ["/bin/sh", str(ENTRYPOINT), *args],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return result.stdout.splitlines()


def test_compose_services_run_the_guides_commands(tmp_path):
    guide = guide_commands()
    assert set(guide) == {"web", "worker", "beat"}
    services = compose()["services"]
    for name in ("web", "worker", "beat"):
        assert run_entrypoint(tmp_path, *services[name]["command"]) == shlex.split(guide[name])
    assert run_entrypoint(tmp_path, *services["migrate"]["command"]) == shlex.split(
        "python manage.py migrate"
    )
    assert run_entrypoint(tmp_path) == shlex.split(guide["web"]), "web by default"
    assert run_entrypoint(tmp_path, "worker", "-Q", "notify")[-2:] == ["-Q", "notify"]
    assert run_entrypoint(tmp_path, "manage", "createsuperuser") == [
        "python", "manage.py", "createsuperuser"
    ]  # fmt: skip


def test_the_systemd_units_run_the_guides_commands():
    guide = guide_commands()
    for name, command in guide.items():
        unit = (ROOT / "deploy" / "systemd" / f"accessportal-{name}.service").read_text()
        [exec_start] = re.findall(r"^ExecStart=(.+)$", unit, flags=re.MULTILINE)
        exec_start = exec_start.replace("/opt/accessportal/.venv/bin/", "").replace(
            "/opt/accessportal/", ""
        )
        assert exec_start == command
        assert re.search(r"^Restart=always$", unit, flags=re.MULTILINE)


def test_compose_needs_its_secrets_and_shares_one_environment():
    services = compose()["services"]
    app = [services[name] for name in ("migrate", "web", "worker", "beat")]
    environment = app[0]["environment"]
    assert all(service["environment"] == environment for service in app)
    assert all(service["image"] == "accessportal:local" for service in app)
    for name in ("DJANGO_SECRET_KEY", "METRICS_TOKEN"):
        assert environment[name].startswith(f"${{{name}:?"), f"{name} must be required"
    assert "${POSTGRES_PASSWORD:?" in environment["DATABASE_URL"]
    assert environment["ACCESSPORTAL_MODE"] == "production"
    for required in ("CACHE_URL", "NOTIFY_REQUEST_URL"):
        assert environment[required]
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    assert [services[n]["healthcheck"]["test"][3] for n in ("web", "worker", "beat")] == [
        "/healthz", "http://web:8000/readyz", "http://web:8000/readyz"
    ]  # fmt: skip


class _Probe(BaseHTTPRequestHandler):
    answers = {
        "/healthz": (200, {"status": "ok"}),
        "/readyz": (503, {"status": "fail", "checks": [
            {"name": "database", "state": "ok", "message": "answered SELECT 1"},
            {"name": "heartbeats", "state": "ok", "message": "worker 3 s ago, beat 3 s ago"},
            {"name": "outbox", "state": "fail", "message": "backlog 2000"},
        ]}),
    }  # fmt: skip
    hosts: list[str] = []

    def do_GET(self):
        self.hosts.append(self.headers["Host"])
        status, body = self.answers.get(self.path, (404, {}))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def probe_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Probe)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_healthcheck_reads_the_probes_as_compose_uses_them(probe_server):
    env = {"PATH": os.environ["PATH"], "GUNICORN_BIND": f"0.0.0.0:{probe_server}",
           "DJANGO_ALLOWED_HOSTS": "access.example.com,localhost"}  # fmt: skip

    def check(*args: str) -> int:
        return subprocess.run(
            ["python3", str(HEALTHCHECK), *args], env=env, capture_output=True, timeout=30
        ).returncode

    readyz = f"http://127.0.0.1:{probe_server}/readyz"
    assert check("/healthz") == 0
    assert check(readyz) == 1, "503: not ready"
    assert check(readyz, "heartbeats") == 0, "the worker's own check is ok"
    assert check(readyz, "outbox") == 1
    assert check("/missing") == 1
    assert set(_Probe.hosts) == {"access.example.com"}
