"""The access check keeps an integration's right to ask in memory, and never one call longer
than that right lasts.

ivy (an integration account, `requests_app.check_access` from her standing `integration`
role) and alice (the same permission from her granted db-admin role) ask about others. In
the steady state a check is two statements: the token, and the check, which also reads the
caller's permission version (backends.role_permissions_at). Each change that takes the
permission away answers 403 (or 401) on the very next call, whatever path it takes:
a membership removed, a role's spec changed (through the policy loader or a bulk UPDATE),
the grant behind it revoked or expired, the caller deactivated or their token revoked.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from policies_app.models import Role
from policies_app.services.memberships import membership_remove
from requests_app.models import Grant
from requests_app.services.grants import access_request_revoke
from requests_app.services.tokens import api_token_revoke
from tests.requests_app.api.conftest import url

CHECK = url("access/check/")
ABOUT_ALICE = {"user": "alice", "role": "db-admin"}
ABOUT_BOB = {"user": "bob", "role": "db-admin"}
NO_INTEGRATION_PERMISSION = """
kind: role
name: integration
spec:
  allow:
    permissions: [requests_app.view_accessrequest]
"""


def _warm(client: APIClient, query: dict) -> None:
    """Two allowed calls: the caller's permissions are now kept in memory."""
    for _ in range(2):
        answer = client.get(CHECK, query)
        assert answer.status_code == 200, answer.content


@pytest.fixture
def ivy(api, approved):
    client = api("ivy")
    _warm(client, ABOUT_ALICE)
    return client


@pytest.fixture
def alice(api, approved):
    """alice may check others only while her approved db-admin grant lasts."""
    client = api("alice")
    _warm(client, ABOUT_BOB)
    return client


def test_a_warm_check_by_an_integration_is_two_statements(
    ivy, django_assert_num_queries, api, user
):
    with django_assert_num_queries(2):  # the token; the check with ivy's permission version
        answer = ivy.get(CHECK, {"user": "alice", "resource": "db/billing"})
    assert answer.json()["allowed"] is True
    with django_assert_num_queries(2):
        assert ivy.get(CHECK, ABOUT_BOB).json()["allowed"] is False
    with django_assert_num_queries(2):
        assert ivy.get(CHECK, {"user": "nobody", "role": "db-admin"}).status_code == 404


def test_a_change_to_the_checked_users_access_does_not_make_the_caller_ask_again(
    ivy, approved, django_assert_num_queries, api
):
    bob = api("bob")  # a reviewer: revokes alice's access through the service, via the API
    assert (
        bob.post(
            url(f"requests/{approved.id}/revoke/"), {"reason": "done"}, format="json"
        ).status_code
        == 200
    )
    with django_assert_num_queries(2):
        assert ivy.get(CHECK, ABOUT_ALICE).json()["allowed"] is False


def test_removing_the_membership_refuses_the_next_call(ivy, user):
    membership_remove(
        user=user("ivy"), role_name="integration", actor=None, reason="left", removed_by="admin"
    )
    assert ivy.get(CHECK, ABOUT_ALICE).status_code == 403


def test_a_role_spec_changed_through_the_policy_loader_refuses_the_next_call(ivy, apply_yaml):
    apply_yaml(NO_INTEGRATION_PERMISSION)
    assert ivy.get(CHECK, ABOUT_ALICE).status_code == 403


def test_a_role_spec_changed_by_a_bulk_update_refuses_the_next_call(ivy):
    Role.objects.filter(name="integration").update(spec={})  # no service, no signal
    assert ivy.get(CHECK, ABOUT_ALICE).status_code == 403


def test_renaming_the_granted_role_refuses_the_next_call(alice):
    # A grant names its role: under another name, the grant gives no permission.
    Role.objects.filter(name="db-admin").update(name="retired-db-admin")
    assert alice.get(CHECK, ABOUT_BOB).status_code == 403


def test_deactivating_the_caller_refuses_the_next_call(ivy, user):
    get_user_model().objects.filter(pk=user("ivy").pk).update(is_active=False)
    assert ivy.get(CHECK, ABOUT_ALICE).status_code == 401


def test_revoking_the_callers_token_refuses_the_next_call(ivy, user):
    api_token_revoke(user=user("ivy"))
    assert ivy.get(CHECK, ABOUT_ALICE).status_code == 401


def test_revoking_the_grant_behind_the_permission_refuses_the_next_call(alice, approved, reviewer):
    access_request_revoke(request_id=approved.id, actor=reviewer, reason="done")
    assert alice.get(CHECK, ABOUT_BOB).status_code == 403


def test_a_grant_revoked_by_a_bulk_update_refuses_the_next_call(alice, approved):
    Grant.objects.filter(request=approved).update(revoked_at=timezone.now())
    assert alice.get(CHECK, ABOUT_BOB).status_code == 403


def test_the_grant_behind_the_permission_expiring_refuses_the_first_call_after(alice, approved):
    expires = Grant.objects.get(request=approved).expires
    with time_machine.travel(expires - timedelta(seconds=1), tick=False):
        assert alice.get(CHECK, ABOUT_BOB).status_code == 200
    with time_machine.travel(expires, tick=False):  # no write: the window ends by itself
        assert alice.get(CHECK, ABOUT_BOB).status_code == 403


def test_usage_writes_do_not_make_the_caller_ask_again(ivy, approved, django_assert_num_queries):
    Grant.objects.filter(request=approved).update(last_used=timezone.now())
    with django_assert_num_queries(2):
        assert ivy.get(CHECK, ABOUT_ALICE).status_code == 200


def test_a_refused_caller_records_no_use(api, approved, user):
    Grant.objects.filter(request=approved).update(first_used=None, last_used=None)
    assert api("mallory").get(CHECK, ABOUT_ALICE).status_code == 403
    assert Grant.objects.get(request=approved).last_used is None


# --- Race (PostgreSQL): revoke while another connection checks in a loop ------------------


def _check_until(client, query, revoked: threading.Event, stop: threading.Event, seen):
    try:
        while not stop.is_set():
            after = revoked.is_set()  # read before the call: the revoke committed before it
            seen.append((after, client.get(CHECK, query).status_code))
    finally:
        connection.close()


def _wait_for(condition) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, "the checking threads stopped answering"
        time.sleep(0.001)


def _integration(spec: dict | None = None):
    return Role.objects.filter(name="integration").update(
        spec={"allow": {"permissions": ["requests_app.check_access"]}} if spec is None else spec
    )


def _member(name: str, *, member: bool):
    ivy, role = get_user_model().objects.get(username=name), Role.objects.get(name="integration")
    if member:
        return role.memberships.get_or_create(user=ivy, defaults={"sources": ["policy"]})
    return role.memberships.filter(user=ivy).delete()


def _active(name: str, *, active: bool):
    return get_user_model().objects.filter(username=name).update(is_active=active)


def _grant(name: str, *, revoked: bool):
    grants = Grant.objects.filter(user__username=name, role="db-admin")
    return grants.update(revoked_at=timezone.now() if revoked else None)


# change -> (caller, query, revoke, give back): each revoke is one committed transaction.
RACES = {
    "membership": (
        "ivy", ABOUT_ALICE,
        lambda: _member("ivy", member=False), lambda: _member("ivy", member=True),
    ),
    "role spec": ("ivy", ABOUT_ALICE, lambda: _integration({}), _integration),
    "token": (
        "ivy", ABOUT_ALICE,
        lambda: api_token_revoke(user=get_user_model().objects.get(username="ivy")),
        lambda: None,
    ),
    "deactivation": (
        "ivy", ABOUT_ALICE,
        lambda: _active("ivy", active=False), lambda: _active("ivy", active=True),
    ),
    "grant revoked": (
        "alice", ABOUT_BOB,
        lambda: _grant("alice", revoked=True), lambda: _grant("alice", revoked=False),
    ),
}  # fmt: skip


@pytest.mark.postgres
@pytest.mark.parametrize("change", list(RACES))
def test_no_allowed_answer_once_the_revoking_transaction_has_committed(
    transactional_db, api_policy, requester, reviewer, change
):
    """Two threads (two connections) check in a loop, their caller's permission kept in
    memory; the main thread revokes it in a transaction. Every call that started after the
    COMMIT returned is refused (403, or 401 for the token and the account)."""
    from requests_app.services.access_requests import access_request_create
    from requests_app.services.reviews import review_submit

    caller, query, revoke, give_back = RACES[change]
    request = access_request_create(requester=requester, roles=["db-admin"], reason="INC-3")
    review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")
    for round_ in range(5):
        if round_:
            with transaction.atomic():
                give_back()
        token, _ = Token.objects.get_or_create(user=get_user_model().objects.get(username=caller))
        clients = [APIClient() for _ in range(2)]
        for client in clients:
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
            _warm(client, query)
        revoked, stop, seen = threading.Event(), threading.Event(), []
        threads = [
            threading.Thread(target=_check_until, args=(c, query, revoked, stop, seen), daemon=True)
            for c in clients
        ]
        for thread in threads:
            thread.start()
        _wait_for(lambda seen=seen: len(seen) >= 20)
        with transaction.atomic():
            revoke()
        revoked.set()
        _wait_for(lambda seen=seen: sum(after for after, _ in list(seen)) >= 40)
        stop.set()
        for thread in threads:
            thread.join(60)
        after = [status for was_revoked, status in seen if was_revoked]
        assert 200 not in after, (change, round_, after)
        assert set(after) <= {401, 403}, after
        assert 200 in [status for was_revoked, status in seen if not was_revoked]


class _RolledBack(Exception):
    pass


def test_a_version_seen_only_by_a_rolled_back_transaction_is_never_matched_again(api, user):
    """Inside a transaction that is then rolled back, carol briefly holds the integration
    role and checks (her permissions, with the right to ask, are kept under that
    transaction's counter value). After the rollback an unrelated change counts as many
    changes again: the kept answer must not be used, as her right never existed. On
    PostgreSQL the version carries the writer's transaction id; on SQLite each bump adds
    a random step (migration 0029): with steps of 1 the count came back to the same
    number and the rolled-back right answered 200."""
    carol = api("carol")
    assert carol.get(CHECK, ABOUT_ALICE).status_code == 403
    integration, other = Role.objects.get(name="integration"), Role.objects.get(name="dev-admin")
    with pytest.raises(_RolledBack), transaction.atomic():
        integration.members.add(user("carol"))
        assert carol.get(CHECK, ABOUT_ALICE).status_code == 200
        raise _RolledBack
    other.members.add(user("carol"))  # the same count of changes, committed this time
    assert carol.get(CHECK, ABOUT_ALICE).status_code == 403


# Columns the kept permissions are NOT made of (`backends._role_permissions` reads a grant's
# user, role and window, a role's name and spec, and membership rows): a change to them
# bumps no version. A new column must be put here or in the triggers (migration 0029).
NOT_COUNTED = {
    "requests_app_grant": {
        "id", "request_id", "resource", "ended_at", "created", "activated_at", "warned_at",
        "first_used", "last_used",
    },
    "policies_app_role": {"id", "description", "created", "updated"},
}  # fmt: skip


def test_every_column_is_counted_by_the_triggers_or_listed_as_not_making_permissions():
    """The triggers' column lists are the second half of the permission rule: a column the
    rule starts to read but no trigger counts would keep stale permissions for good."""
    import re
    from importlib import import_module

    migration = import_module("requests_app.migrations.0029_permission_versions")
    counted_grant = set(re.findall(r"NEW\.(\w+)", migration.GRANT_CHANGED))
    role_update = next(t for t in migration.SQLITE_TRIGGERS if t[0] == "role_update")
    counted_role = set(re.findall(r"NEW\.(\w+)", role_update[3]))
    assert counted_role == {"name", "spec"}
    grant_update = next(t for t in migration.SQLITE_TRIGGERS if t[0] == "grant_update")
    assert set(re.findall(r"NEW\.(\w+)", grant_update[3])) == counted_grant  # both dialects
    assert "OLD.spec::text) IS DISTINCT FROM (NEW.name, NEW.spec::text)" in migration.PG_INSTALL
    columns = {
        "requests_app_grant": {f.column for f in Grant._meta.concrete_fields},
        "policies_app_role": {f.column for f in Role._meta.concrete_fields},
    }
    for table, counted in (
        ("requests_app_grant", counted_grant),
        ("policies_app_role", counted_role),
    ):
        assert counted | NOT_COUNTED[table] == columns[table], table
        assert not counted & NOT_COUNTED[table], table


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite rebuilds tables")
def test_triggers_dropped_by_a_sqlite_table_rebuild_come_back_after_migrate(db):
    """SQLite's schema editor copies a table on AlterField and loses its triggers (seen in
    review: 9 triggers before, 6 after altering a role column); after every migrate the
    missing ones are put back."""
    from requests_app.permission_version_triggers import permission_version_triggers_ensure

    def triggers() -> set[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            return {name for (name,) in cursor.fetchall() if name.startswith("permission_v")}

    before = triggers()
    assert len(before) == 9
    with connection.cursor() as cursor:  # what a rebuild of policies_app_role leaves
        cursor.execute("DROP TRIGGER permission_version_role_update")
        cursor.execute("DROP TRIGGER permission_version_role_insert")
    assert permission_version_triggers_ensure(using="default") == 2
    assert triggers() == before
    assert permission_version_triggers_ensure(using="default") == 0


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's triggers")
def test_a_trigger_with_an_older_body_is_replaced_after_migrate(db):
    """A database migrated before the SQLite bump took a random step kept triggers adding
    1 (a rolled-back value could come back); after migrate they add the random step."""
    from requests_app.permission_version_triggers import permission_version_triggers_ensure

    def body() -> str:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT sql FROM sqlite_master WHERE name = 'permission_version_member_insert'"
            )
            return cursor.fetchone()[0]

    assert "random()" in body()
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER permission_version_member_insert")
        cursor.execute(
            "CREATE TRIGGER permission_version_member_insert AFTER INSERT ON"
            " policies_app_role_members FOR EACH ROW BEGIN INSERT OR IGNORE INTO"
            " requests_app_permissionversion (scope, version) VALUES (NEW.user_id, 0);"
            " UPDATE requests_app_permissionversion SET version = version + 1"
            " WHERE scope = NEW.user_id; END"
        )
    assert "random()" not in body()
    assert permission_version_triggers_ensure(using="default") == 1
    assert "random()" in body()
    assert permission_version_triggers_ensure(using="default") == 0
