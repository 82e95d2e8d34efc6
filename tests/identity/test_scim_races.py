"""Directory sync races on PostgreSQL (real threads, separate connections): two pushes to
one group both count, and a deactivation racing a group push never leaves an inactive user
holding the group's roles."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from accessportal.kernel.audit import audit_verify
from policies_app.models import DirectoryGroup
from policies_app.selectors import role_sources
from policies_app.services.directory import (
    MemberOp,
    directory_group_create,
    directory_group_update,
)
from requests_app.services.directory_users import (
    DirectoryUserAttrs,
    UserNameTaken,
    directory_user_save,
)
from tests.concurrency import run_together
from tests.identity.scim_support import POLICY

pytestmark = pytest.mark.postgres


@pytest.fixture
def people(transactional_db, apply_yaml, base_policy):
    apply_yaml(POLICY)
    return [
        directory_user_save(
            provider="okta", user_id=None, attrs=DirectoryUserAttrs(username=f"p{i}@example.com")
        )
        for i in range(6)
    ]


def test_concurrent_member_adds_to_one_group_all_count(people):
    group = directory_group_create(provider="okta", display_name="eng-all")

    outcomes = run_together(
        *[
            lambda p=p: directory_group_update(
                provider="okta", group_id=group.pk, member_ops=[MemberOp("add", [p.pk])]
            )
            for p in people
        ]
    )

    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    members = set(DirectoryGroup.objects.get(pk=group.pk).members.values_list("pk", flat=True))
    assert members == {p.pk for p in people}
    assert all(role_sources(p) == {"engineer": ["scim:okta"]} for p in people)
    assert audit_verify().ok


@pytest.mark.parametrize("round_", range(3))
def test_deactivation_racing_a_group_push_leaves_no_roles(people, round_):
    person = people[0]
    group = directory_group_create(provider="okta", display_name="eng-x")
    off = DirectoryUserAttrs(username=person.username, active=False)

    outcomes = run_together(
        lambda: directory_user_save(provider="okta", user_id=person.pk, attrs=off),
        lambda: directory_group_update(
            provider="okta", group_id=group.pk, member_ops=[MemberOp("add", [person.pk])]
        ),
    )

    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    person.refresh_from_db()
    assert not person.is_active and role_sources(person) == {}
    assert audit_verify().ok


@pytest.mark.parametrize(
    "names", [("dan@example.com",) * 4, ("dan@example.com", "Dan@Example.com")]
)
def test_concurrent_creates_of_one_user_name_make_one_account_the_rest_409(
    transactional_db, apply_yaml, base_policy, names
):
    apply_yaml(POLICY)

    outcomes = run_together(
        *[
            lambda n=n: directory_user_save(
                provider="okta", user_id=None, attrs=DirectoryUserAttrs(username=n)
            )
            for n in names
        ]
    )

    assert [o.ok for o in outcomes].count(True) == 1, [o.error for o in outcomes]
    refused = [o.error for o in outcomes if not o.ok]
    assert all(isinstance(e, UserNameTaken) for e in refused), refused
    assert get_user_model().objects.filter(username__iexact="dan@example.com").count() == 1
    assert audit_verify().ok
