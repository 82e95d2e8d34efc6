"""PolicySet.load reuses its parse only while no role changed, however it was changed."""

from __future__ import annotations

from policies_app.engine import PolicySet
from policies_app.models import Role


def test_unchanged_roles_reuse_the_parsed_set(base_policy):
    assert PolicySet.load() is PolicySet.load()


def test_any_change_to_a_role_is_seen_at_once(base_policy, apply_yaml):
    before = PolicySet.load()
    assert before.roles["dev-admin"].permissions == []
    # A write that bypasses save() (no `updated` bump) is seen too: the digest is content.
    Role.objects.filter(name="dev-admin").update(
        spec={**before.roles["dev-admin"].spec, "allow": {"permissions": ["x.y"]}}
    )
    assert PolicySet.load().roles["dev-admin"].permissions == ["x.y"]
    Role.objects.filter(name="dev-admin").delete()
    assert "dev-admin" not in PolicySet.load().roles
    apply_yaml("kind: role\nname: newcomer\n")
    assert "newcomer" in PolicySet.load().roles


def test_a_role_renamed_is_seen(base_policy):
    PolicySet.load()
    Role.objects.filter(name="dev-admin").update(name="dev-boss")
    roles = PolicySet.load().roles
    assert "dev-boss" in roles and "dev-admin" not in roles


def test_a_raw_sql_change_is_seen(base_policy):
    from django.db import connection

    PolicySet.load()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE policies_app_role SET name = 'dev-boss' WHERE name = 'dev-admin'")
    assert "dev-boss" in PolicySet.load().roles


def test_a_change_rolled_back_is_never_taken_for_the_next_one(base_policy):
    """A set read inside a transaction that changed a role, then rolled back, is kept under
    a version number the next committed change reuses: the key tells them apart."""
    from django.db import transaction

    spec = PolicySet.load().roles["dev-admin"].spec
    with transaction.atomic():
        Role.objects.filter(name="dev-admin").update(spec={**spec, "allow": {"permissions": ["a"]}})
        assert PolicySet.load().roles["dev-admin"].permissions == ["a"]
        transaction.set_rollback(True)
    assert PolicySet.load().roles["dev-admin"].permissions == []
    Role.objects.filter(name="dev-admin").update(spec={**spec, "allow": {"permissions": ["b"]}})
    assert PolicySet.load().roles["dev-admin"].permissions == ["b"]


def test_the_write_paths_one_statement_reads_the_same_subject_as_subject_for(
    base_policy, user, apply_yaml
):
    """`policies_and_subject` (one statement on PostgreSQL) and `subject_for` read the
    standing roles from one query (`standing_roles`) and must agree, traits included."""
    from policies_app.models import UserTraits
    from policies_app.selectors import policies_and_subject, subject_for

    alice = user("alice")
    UserTraits.objects.update_or_create(user=alice, defaults={"traits": {"team": ["db"]}})
    policies, subject = policies_and_subject(alice)
    expected = subject_for(alice, policies)
    assert sorted(subject.role_names) == sorted(expected.role_names) != []
    assert subject.traits == expected.traits == {"team": ["db"]}
    assert policies is PolicySet.load()
