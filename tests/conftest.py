"""Personas and policy fixtures shared by the whole suite.

The story: alice (requester, an engineer) asks for roles; bob and carol review them;
mallory is an outsider with no roles; erin is an auditor; root is a superuser. Policies are
set up the one way the product sets them up: YAML through the policy loader.
"""

from __future__ import annotations

import os
import shutil
import socket
import textwrap

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from policies_app.loader import plan_from_texts
from policies_app.services.apply import policies_apply
from tests.postgres_server import admin_conninfo, postgres_reachable

REQUIRE_SERVICES = os.environ.get("ACCESSPORTAL_REQUIRE_SERVICES") == "1"
# The Chromium that browser tests drive (Debian's package; Playwright's download is not used).
CHROMIUM = os.environ.get("ACCESSPORTAL_CHROMIUM") or "/usr/bin/chromium"


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def pytest_addoption(parser):
    parser.addoption(
        "--screenshots",
        metavar="DIR",
        help="refresh the README's pictures into DIR (docs/screenshots): runs only the browser "
        "tests that take them, and the generators marked `screenshots`",
    )


def _select_screenshots(config, items) -> None:
    """The README's picture generators (marked `screenshots`) are a tool, not tests: left out
    unless --screenshots is given, and then only the tests that take pictures run."""
    shooting = bool(config.getoption("--screenshots"))
    keep, drop = [], []
    for item in items:
        takes_pictures = "shots" in getattr(item, "fixturenames", ())
        generator = item.get_closest_marker("screenshots") is not None
        (keep if (takes_pictures if shooting else not generator) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collection_modifyitems(config, items):
    """Every transactional test restores the migrated data (content types, permissions, the
    audit chain head) with serialized rollback. Mixing the two kinds breaks on PostgreSQL:
    a flush after a serialized test leaves those tables empty for the next plain one, and a
    flush after a plain one recreates them under new ids that the next restore collides with.
    """
    _select_screenshots(config, items)
    for item in items:
        names = getattr(item, "fixturenames", None)
        if names is None or "django_db_serialized_rollback" in names:
            continue
        marker = item.get_closest_marker("django_db")
        transactional = marker is not None and marker.kwargs.get("transaction")
        if transactional or "transactional_db" in names or "live_server" in names:
            names.append("django_db_serialized_rollback")


def pytest_runtest_setup(item):
    """Real-service tests: `postgres` runs only on a PostgreSQL database (CI's second run),
    `postgres(direct=True)` whenever the local server answers (tests/postgres_server.py);
    `sqlite_pass` marks a test that never uses the database under test (a demo on its own
    SQLite file, a pytest run without a tool): CI's PostgreSQL pass does not repeat it, nor
    a `markup` test (axe and keyboard focus on rendered pages, which no database changes);
    `redis` needs the server and `browser` needs Chromium, and with
    ACCESSPORTAL_REQUIRE_SERVICES=1 a missing one fails the test instead of skipping it."""
    postgres = item.get_closest_marker("postgres")
    if postgres and postgres.kwargs.get("direct"):
        if not postgres_reachable():
            where = admin_conninfo()
            if REQUIRE_SERVICES:
                pytest.fail(f"PostgreSQL at {where} is required (ACCESSPORTAL_REQUIRE_SERVICES=1)")
            pytest.skip(f"needs the PostgreSQL server at {where}")
    elif postgres and connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://... (CI does)")
    if item.get_closest_marker("sqlite_pass") and connection.vendor != "sqlite":
        pytest.skip("database-independent: it runs in the SQLite pass (CI's first run)")
    if item.get_closest_marker("markup") and connection.vendor != "sqlite":
        pytest.skip("checks rendered markup, the same on every database: runs in the SQLite pass")
    if item.get_closest_marker("redis") and not _redis_reachable():
        if REQUIRE_SERVICES:
            pytest.fail("Redis at 127.0.0.1:6379 is required (ACCESSPORTAL_REQUIRE_SERVICES=1)")
        pytest.skip("needs Redis at 127.0.0.1:6379")
    if item.get_closest_marker("browser") and not shutil.which(CHROMIUM):
        install = "apt-get install chromium, or set ACCESSPORTAL_CHROMIUM to its path"
        if REQUIRE_SERVICES:
            pytest.fail(
                f"Chromium at {CHROMIUM} is required (ACCESSPORTAL_REQUIRE_SERVICES=1): {install}"
            )
        pytest.skip(f"needs Chromium at {CHROMIUM}: {install}")


@pytest.fixture(autouse=True, scope="session")
def _celery_tasks_in_process():
    """Work queued after commit runs inline (CELERY_TASK_ALWAYS_EAGER); tests with a real
    worker and broker switch this off (tests/requests_app/worker_harness.py)."""
    from accessportal.celery import app

    app.conf.task_always_eager = True
    yield


@pytest.fixture(autouse=True)
def _celery_join_allowed():
    """Celery's eager `apply` marks joins as blocking through one process-wide flag, saved
    and restored around each task: two threads running eager tasks at once (the race
    tests) can leave it set, and every later `.get()` in the process would then fail with
    "Never call result.get() within a task". Each test starts with it cleared."""
    from celery._state import _set_task_join_will_block

    _set_task_join_will_block(False)
    yield


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """On PostgreSQL the audit tables refuse TRUNCATE except to superusers (migration 0008),
    and Django empties every table with TRUNCATE after each transactional test: the suite
    connects as a superuser, as a DBA would for a flush (docs/SECURITY.md). Tests of what
    the application may do switch to a non-superuser role (`app_role`)."""
    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            if not cursor.fetchone()[0]:
                pytest.exit(
                    "the PostgreSQL test user must be a superuser: Django flushes tables with "
                    "TRUNCATE, which the audit triggers allow only superusers (docs/SECURITY.md)",
                    returncode=1,
                )
    yield


@pytest.fixture(autouse=True)
def _fresh_usage_memory():
    """Grant usage (services.usage) remembers per process what it wrote; ids are reused
    between tests on SQLite, so each test starts with nothing remembered."""
    from requests_app.services.usage import usage_cache_clear

    usage_cache_clear()


@pytest.fixture(autouse=True)
def _fresh_role_permissions():
    """The access check keeps callers' role permissions per process while their permission
    version holds (backends.role_permissions_at); a rolled-back test takes the counters
    back with it and ids are reused on SQLite, so each test starts with nothing kept."""
    from requests_app.backends import role_permissions_forget

    role_permissions_forget()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """API throttles (DRF) count requests in the cache; each test starts from zero, so a
    test's requests never count against the next one's rate. Only the in-process cache is
    cleared: a shared one (CACHE_URL) may hold someone else's data."""
    from django.conf import settings
    from django.core.cache import cache

    if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        cache.clear()


@pytest.fixture
def audit_tampering(db):
    """Stand in for an insider who owns the tables: on PostgreSQL, switch the append-only
    triggers of the events and the chain head off for this test's transaction (the hash
    chain, and the anchors, must still catch what they do)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in ("requests_app_auditevent", "requests_app_auditchainhead"):
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    yield


BASE_POLICY = """
kind: role
name: engineer
spec:
  allow:
    request:
      roles: [db-admin, dev-admin, reviewer]
      search_as_roles: [prod-access]
---
kind: role
name: db-admin
spec:
  allow:
    permissions: [requests_app.check_access]
    resources: {kinds: [db], labels: {env: [prod]}}
---
kind: role
name: dev-admin
---
kind: role
name: prod-access
spec:
  allow:
    resources: {kinds: [node], labels: {env: [prod]}}
---
kind: role
name: reviewer
spec:
  allow:
    review_requests: {roles: [db-admin, dev-admin, prod-access, reviewer]}
---
kind: role
name: auditor
spec:
  allow:
    permissions: [requests_app.view_accessrequest, requests_app.view_auditevent]
---
kind: user
name: alice
roles: [engineer]
traits: {team: [pay]}
---
kind: user
name: bob
roles: [reviewer]
---
kind: user
name: carol
roles: [reviewer]
---
kind: user
name: erin
roles: [auditor]
---
kind: user
name: mallory
---
kind: resource
id: node/db-prod-1
labels: {env: prod, team: pay}
---
kind: resource
id: node/web-dev-1
labels: {env: dev}
---
kind: resource
id: db/billing
labels: {env: prod}
"""


@pytest.fixture
def apply_yaml(db):
    """Apply YAML policy text through the real loader; returns the summary."""

    def _apply(text: str, *, prune: bool = False):
        plan = plan_from_texts([("test.yaml", textwrap.dedent(text))])
        return policies_apply(plan=plan, prune=prune)

    return _apply


@pytest.fixture
def user():
    """Look a persona up by name: user("alice")."""

    def _get(name: str):
        return get_user_model().objects.get(username=name)

    return _get


@pytest.fixture
def base_policy(apply_yaml):
    apply_yaml(BASE_POLICY)


@pytest.fixture
def requester(base_policy, user):
    return user("alice")


@pytest.fixture
def reviewer(base_policy, user):
    return user("bob")


@pytest.fixture
def second_reviewer(base_policy, user):
    return user("carol")


@pytest.fixture
def outsider(base_policy, user):
    return user("mallory")


@pytest.fixture
def auditor(base_policy, user):
    return user("erin")


@pytest.fixture
def admin(base_policy, settings):
    # PBKDF2 would cost half a second per test (40% of a desk test's time); the hasher is
    # not under test here, and every login with this password is in this process.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return get_user_model().objects.create_superuser(
        "root", "root@example.com", "pw-for-tests-only"
    )
