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
