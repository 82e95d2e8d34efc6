"""Reviewer profiles: requests carry guardian group rows per profile (who reviews alike),
and `has_perm` on a request answers the visibility rule and `may_review`."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from policies_app.models import ReviewerProfile
from requests_app.backends import AccessRequestPermissionBackend
from requests_app.models import AccessRequest
from requests_app.models import AccessRequestGroupObjectPermission as GroupPerm
from requests_app.models import AccessRequestUserObjectPermission as UserPerm
from requests_app.selectors import eligible_reviewer_ids, may_review, requests_needing_review
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit
from requests_app.services.visibility import accounts_profiles_sync

EXTRA_ROLES = """
kind: role
name: no-db
spec:
  deny:
    review_requests: {roles: [db-admin]}
---
kind: role
name: pay-reviewer
spec:
  allow:
    review_requests:
      roles: [db-admin]
      where: 'contains(reviewer.traits["team"], "pay")'
"""


def _users(names_roles: dict[str, str], traits: str = "") -> str:
    return "".join(
        f"---\nkind: user\nname: {name}\nroles: [{roles}]\n{traits}"
        for name, roles in names_roles.items()
    )


def _reviewable(user) -> set:
    return set(requests_needing_review(user).values_list("pk", flat=True))


def test_three_hundred_reviewers_of_one_profile_cost_one_group_row_per_permission(
    requester, apply_yaml
):
    apply_yaml(_users({f"rev{i:03}": "reviewer" for i in range(300)}))
    request = access_request_create(requester=requester, roles=["db-admin"])

    # bob, carol and the 300 share one profile: two group rows (view, review), plus the
    # requester's own view row; no row per reviewer.
    assert GroupPerm.objects.filter(content_object=request).count() == 2
    assert list(
        UserPerm.objects.filter(content_object=request).values_list("user__username", flat=True)
    ) == ["alice"]
    assert len(eligible_reviewer_ids(request)) == 302
    assert request.pk in _reviewable(get_user_model().objects.get(username="rev123"))


def test_a_user_whose_roles_change_moves_profile_and_gains_or_loses_pending_requests_at_once(
    requester, reviewer, outsider, apply_yaml
):
    request = access_request_create(requester=requester, roles=["db-admin"])
    assert _reviewable(outsider) == set()

    apply_yaml(_users({"mallory": "reviewer", "bob": ""}))
    assert _reviewable(outsider) == {request.pk}
    assert list(AccessRequest.objects.visible_to(outsider)) == [request]
    assert _reviewable(reviewer) == set()
    assert not AccessRequest.objects.visible_to(reviewer).exists()


def test_a_deny_rule_from_a_second_role_excludes_that_profile(
    requester, reviewer, apply_yaml, user
):
    apply_yaml(EXTRA_ROLES + _users({"dan": "reviewer, no-db"}))
    db = access_request_create(requester=requester, roles=["db-admin"])
    dev = access_request_create(requester=requester, roles=["dev-admin"])

    assert _reviewable(user("dan")) == {dev.pk}
    assert _reviewable(reviewer) == {db.pk, dev.pk}
    assert ReviewerProfile.objects.count() == 2  # [reviewer] and [no-db, reviewer]


def test_a_trait_based_where_splits_profiles(requester, apply_yaml, user):
    apply_yaml(
        EXTRA_ROLES
        + _users({"paula": "pay-reviewer"}, "traits: {team: [pay]}\n")
        + _users({"otto": "pay-reviewer"}, "traits: {team: [ops]}\n")
    )
    request = access_request_create(requester=requester, roles=["db-admin"])

    profiles = {
        p.group.user_set.get().username: p
        for p in ReviewerProfile.objects.filter(roles=["pay-reviewer"])
    }
    assert set(profiles) == {"paula", "otto"}
    assert _reviewable(user("paula")) == {request.pk}
    assert _reviewable(user("otto")) == set()
    assert may_review(request, user("otto")) is False


def test_a_requester_in_an_eligible_profile_still_cannot_review_their_own_request(
    reviewer, second_reviewer, apply_yaml
):
    apply_yaml(_users({"bob": "reviewer, engineer", "carol": "reviewer, engineer"}))
    own = access_request_create(requester=reviewer, roles=["dev-admin"])
    other = access_request_create(requester=second_reviewer, roles=["dev-admin"])

    assert _reviewable(reviewer) == {other.pk}
    assert not reviewer.has_perm("requests_app.review_accessrequest", own)
    assert reviewer.has_perm("requests_app.view_accessrequest", own)
    assert reviewer.pk not in eligible_reviewer_ids(own)


def test_a_past_reviewer_keeps_seeing_what_they_reviewed_after_leaving_the_profile(
    requester, reviewer, second_reviewer, apply_yaml
):
    apply_yaml(EXTRA_ROLES.replace("roles: [db-admin]}", "roles: [nothing]}"))
    request = access_request_create(requester=requester, roles=["db-admin"])
    review_submit(request_id=request.id, reviewer=reviewer, state="DENIED", reason="no")
    apply_yaml(_users({"bob": ""}))
    assert list(AccessRequest.objects.visible_to(reviewer)) == [request]
    assert reviewer.has_perm("requests_app.view_accessrequest", request)


def test_deactivation_takes_the_user_out_of_their_profile(requester, reviewer):
    request = access_request_create(requester=requester, roles=["db-admin"])
    reviewer.is_active = False
    reviewer.save(update_fields=["is_active"])
    accounts_profiles_sync(user_ids=[reviewer.pk])
    assert not reviewer.groups.exists()
    assert reviewer.pk not in eligible_reviewer_ids(request)

    reviewer.is_active = True
    reviewer.save(update_fields=["is_active"])
    accounts_profiles_sync(user_ids=[reviewer.pk])
    assert _reviewable(reviewer) == {request.pk}


def test_an_emptied_profile_is_deleted_with_its_rows(requester, apply_yaml):
    request = access_request_create(requester=requester, roles=["db-admin"])
    assert GroupPerm.objects.filter(content_object=request).exists()
    apply_yaml(_users({"bob": "", "carol": ""}))
    assert not ReviewerProfile.objects.exists()
    assert not GroupPerm.objects.filter(content_object=request).exists()


@pytest.fixture
def people(requester, reviewer, second_reviewer, outsider, auditor, admin, user, apply_yaml):
    apply_yaml(_users({"ivy": "reviewer"}))
    ivy = user("ivy")
    ivy.is_active = False
    ivy.save(update_fields=["is_active"])
    admin.is_superuser = True
    return {
        "requester": requester,
        "reviewer": reviewer,
        "second_reviewer": second_reviewer,
        "outsider": outsider,
        "auditor": auditor,
        "superuser": admin,
        "inactive reviewer": ivy,
    }


@pytest.mark.parametrize("owner", ["requester", "reviewer"])
def test_has_perm_on_a_request_answers_visibility_and_may_review(people, owner, apply_yaml):
    apply_yaml(_users({"bob": "reviewer, engineer"}))
    request = access_request_create(requester=people[owner], roles=["dev-admin"])
    backend = AccessRequestPermissionBackend()
    for name, person in people.items():
        person = get_user_model().objects.get(pk=person.pk)  # no cached permissions
        visible = AccessRequest.objects.visible_to(person).filter(pk=request.pk).exists()
        assert person.has_perm("requests_app.view_accessrequest", request) is visible, name
        reviews = may_review(request, person)
        assert backend.has_perm(person, "requests_app.review_accessrequest", request) is reviews
        if not person.is_superuser:  # Django's User.has_perm says yes to superusers first
            assert person.has_perm("requests_app.review_accessrequest", request) is reviews
    expected_reviewers = {"reviewer", "second_reviewer"} - {owner}
    reviewers = {
        n
        for n, p in people.items()
        if backend.has_perm(p, "requests_app.review_accessrequest", request)
    }
    assert reviewers == expected_reviewers


def test_a_dry_run_names_the_reviewers_the_request_would_have(requester, user):
    """The portal's preview (an unsaved request) shows who could approve it, as the
    saved request will."""
    preview = access_request_create(
        requester=requester, roles=["db-admin"], reason="INC-7", dry_run=True
    )
    assert not AccessRequest.objects.exists()
    names = {user(n).pk for n in ("bob", "carol")}
    assert set(eligible_reviewer_ids(preview)) == names
    saved = access_request_create(requester=requester, roles=["db-admin"], reason="INC-7")
    assert set(eligible_reviewer_ids(saved)) == names
