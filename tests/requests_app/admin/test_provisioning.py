"""Provisioning on the desk: targets with the reconciler's state and "Reconcile now",
assignments with "Retry now" (both permission-checked and audited), and grants showing their
per-target rows and "revoking"."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accessportal.kernel.choices import ProvisionState
from accessportal.kernel.models import AuditEvent
from policies_app.models import ProvisionTarget
from requests_app.models import Grant, ProvisionAssignment
from requests_app.selectors.provisioning_targets import DISPLAY_STATE_Q
from requests_app.services.grants import access_request_revoke
from tests.requests_app.provisioning.conftest import db_admin_provisioning

TARGETS = "admin:policies_app_provisiontarget_changelist"
ASSIGNMENTS = "admin:requests_app_provisionassignment_changelist"


@pytest.fixture
def two_groups(base_policy, apply_yaml, groups):
    ok, down = groups("ok"), groups("down")
    apply_yaml(db_admin_provisioning(ok.yaml(), down.yaml()))
    return ok, down


@pytest.fixture
def failing(two_groups, approve, work):
    """alice holds db-admin: "ok" applied, "down" failing."""
    ok, down = two_groups
    down.mode("fail")
    request = approve("db-admin")
    work()
    return request


def grant_perms(person, *codenames: str):
    person.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return person


def test_the_display_state_filters_match_the_rule():
    for desired in (True, False):
        for state in ProvisionState.values:
            row = ProvisionAssignment(desired=desired, state=state)
            matching = [name for name, q in DISPLAY_STATE_Q.items() if _matches(q, row)]
            assert matching == [row.display_state], (desired, state)


def _matches(q, row) -> bool:
    """Evaluate a Q of plain field lookups (exact, in, negation) on an unsaved row."""
    results = []
    for child in q.children:
        if hasattr(child, "children"):
            results.append(_matches(child, row))
            continue
        lookup, value = child
        field, _, op = lookup.partition("__")
        actual = getattr(row, field)
        results.append(actual in value if op == "in" else actual == value)
    combined = all(results) if q.connector == "AND" else any(results)
    return not combined if q.negated else combined


def test_targets_list_shows_reconcile_state_and_failing_count(root_client, failing):
    response = root_client.get(reverse(TARGETS))
    assert response.status_code == 200
    text = response.content.decode()
    assert "group down" in text and "group ok" in text
    failing_only = root_client.get(reverse(TARGETS), {"failing": "yes"})
    assert [t.label for t in failing_only.context["cl"].result_list] == ["group down"]
    healthy = root_client.get(reverse(TARGETS), {"failing": "no"})
    assert [t.label for t in healthy.context["cl"].result_list] == ["group ok"]
    # A reconcile that could not read the target counts as failing too.
    ProvisionTarget.objects.filter(label="group ok").update(last_reconcile_error="unreachable")
    failing_only = root_client.get(reverse(TARGETS), {"failing": "yes"})
    assert {t.label for t in failing_only.context["cl"].result_list} == {"group ok", "group down"}
    # The failing count links to those assignments.
    down = ProvisionTarget.objects.get(label="group down")
    listed = root_client.get(
        reverse(ASSIGNMENTS), {"target__id__exact": down.pk, "state": "failing"}
    )
    assert [a.user.username for a in listed.context["cl"].result_list] == ["alice"]


def test_retry_service_refuses_without_permission_and_leaves_unfailed_rows(failing, user, admin):
    from accessportal.kernel.errors import NotAllowed
    from requests_app.services.provisioning.retry import provision_retry

    rows = list(ProvisionAssignment.objects.values_list("pk", flat=True))
    with pytest.raises(NotAllowed):
        provision_retry(assignment_ids=rows, actor=user("bob"))
    assert provision_retry(assignment_ids=rows, actor=admin) == 1  # only the failed one
    assert AuditEvent.objects.filter(action="provision.retried").count() == 1


def test_target_page_lists_its_assignments(root_client, failing):
    target = ProvisionTarget.objects.get(label="group down")
    page = root_client.get(reverse("admin:policies_app_provisiontarget_change", args=[target.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "alice" in text and "failed" in text and "group down refused" in text


def test_staff_without_the_view_permission_see_no_provisioning_pages(login, failing):
    client = login("bob")
    assert client.get(reverse(TARGETS)).status_code == 403
    assert client.get(reverse(ASSIGNMENTS)).status_code == 403


def test_reconcile_now_is_permission_checked_and_audited(
    login, user, failing, django_capture_on_commit_callbacks
):
    viewer = grant_perms(user("erin"), "view_provisiontarget")
    client = login("erin")
    target = ProvisionTarget.objects.get(label="group ok")
    form = {"action": "reconcile_now", "_selected_action": [target.pk]}
    response = client.post(reverse(TARGETS), form)
    # The action is not offered to a viewer: Django answers with the list, nothing queued.
    assert not AuditEvent.objects.filter(action="provision.reconcile_requested").exists()
    assert response.status_code in (200, 302)
    grant_perms(viewer, "change_provisiontarget")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(TARGETS), form, follow=True)
    assert "1 target(s) queued to be reconciled now" in response.content.decode()
    assert AuditEvent.objects.get(action="provision.reconcile_requested").actor_name == "erin"
    target.refresh_from_db()
    assert target.last_reconciled_at is not None


def test_retry_now_makes_failed_rows_due_and_is_audited(
    login, user, two_groups, failing, work, django_capture_on_commit_callbacks
):
    ok, down = two_groups
    row = ProvisionAssignment.objects.get(target__label="group down")
    assert row.state == ProvisionState.FAILED and row.next_attempt_at > row.updated
    grant_perms(user("erin"), "view_provisionassignment")
    client = login("erin")
    form = {"action": "retry_now", "_selected_action": [row.pk]}
    client.post(reverse(ASSIGNMENTS), form)
    assert not AuditEvent.objects.filter(action="provision.retried").exists()
    grant_perms(user("erin"), "change_provisionassignment")
    down.mode("")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(ASSIGNMENTS), form, follow=True)
    assert "1 assignment(s) queued to be tried again now" in response.content.decode()
    event = AuditEvent.objects.get(action="provision.retried")
    assert event.actor_name == "erin" and event.data["target"] == "group down"
    row.refresh_from_db()
    assert row.display_state == "applied"
    assert "uid=alice" in down.members
    failed_only = client.get(reverse(ASSIGNMENTS), {"state": "failed"})
    assert list(failed_only.context["cl"].result_list) == []


def test_grants_show_provisioning_rows_and_revoking(
    root_client, two_groups, failing, requester, work, django_assert_max_num_queries
):
    ok, down = two_groups
    page = root_client.get(reverse("admin:requests_app_grant_changelist"))
    text = page.content.decode()
    # The list: one short badge per state, the targets (and errors) in its tooltip.
    assert ">1 applied<" in text and ">1 failed<" in text
    assert 'title="group ok (files)"' in text and 'title="group down (files): ' in text
    access_request_revoke(request_id=failing.id, actor=requester, reason="done")
    work()
    text = root_client.get(reverse("admin:requests_app_grant_changelist")).content.decode()
    assert ">revoking<" in text
    assert ">1 removed<" in text and ">1 revoking<" in text
    grant = Grant.objects.get(request=failing)
    detail = root_client.get(reverse("admin:requests_app_grant_change", args=[grant.pk]))
    detail_text = detail.content.decode()
    # The grant's page: every target with its state, and the error in words.
    assert "group ok (files): removed" in detail_text
    assert "group down (files): revoking" in detail_text and "group down refused" in detail_text


def test_grant_list_queries_do_not_grow_with_grants(
    root_client, two_groups, approve, work, django_assert_max_num_queries
):
    def measure() -> int:
        with django_assert_max_num_queries(40) as captured:
            response = root_client.get(reverse("admin:requests_app_grant_changelist"))
        assert response.status_code == 200
        return len(captured)

    approve("db-admin")
    one = measure()
    for _ in range(9):
        approve("db-admin")
    work()
    assert measure() == one
