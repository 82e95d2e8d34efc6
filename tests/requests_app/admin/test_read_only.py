"""Nobody edits a request, review, grant or audit event by hand in admin, superusers
included: no add, change or delete, no "delete selected"; the matrix is generated."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from accessportal.kernel.models import AuditEvent
from requests_app.models import AccessRequest, Grant, Review
from requests_app.services.reviews import review_submit

MODELS = ["accessrequest", "pendingrequest", "review", "grant", "auditevent"]
# Who sees which list: root (a superuser who also reviews) sees all; erin (auditor) all but
# a queue; bob (reviewer) all but the audit log.
CASES = [
    *[("root", m) for m in MODELS],
    *[("erin", m) for m in MODELS if m != "pendingrequest"],
    *[("bob", m) for m in MODELS if m != "auditevent"],
]


@pytest.fixture
def rows(make_request, user, two_person, admin, apply_yaml):
    """A denied and an approved request (reviews, a grant, audit events), one pending."""
    apply_yaml("kind: user\nname: root\nroles: [reviewer]\n")
    denied = make_request(["dev-admin"])
    review_submit(request_id=denied.id, reviewer=user("carol"), state="DENIED", reason="no")
    approved = make_request(["db-admin"])
    for name in ("bob", "carol"):
        review_submit(request_id=approved.id, reviewer=user(name), state="APPROVED", reason="ok")
    pending = make_request(["reviewer"])
    return {
        "accessrequest": approved.pk,
        "pendingrequest": pending.pk,
        "review": Review.objects.filter(request=approved).first().pk,
        "grant": Grant.objects.get(request=approved).pk,
        "auditevent": AuditEvent.objects.last().pk,
    }


@pytest.fixture
def client_of(root_client, login):
    def _client(name: str) -> Client:
        return root_client if name == "root" else login(name)

    return _client


def snapshot():
    return (
        list(AccessRequest.objects.order_by("pk").values_list("pk", "state", "reason")),
        list(Review.objects.order_by("pk").values_list("pk", "state", "reason")),
        list(Grant.objects.order_by("pk").values_list("pk", "expires", "revoked_at")),
        list(AuditEvent.objects.order_by("seq").values_list("seq", "hash")),
    )


@pytest.mark.parametrize(("persona", "model"), CASES)
def test_changelist_has_no_add_button_and_no_delete_action(rows, client_of, persona, model):
    response = client_of(persona).get(reverse(f"admin:requests_app_{model}_changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    assert reverse(f"admin:requests_app_{model}_add") not in page  # no "Add" button anywhere
    assert 'value="delete_selected"' not in page


@pytest.mark.parametrize(("persona", "model"), CASES)
def test_add_is_refused(rows, client_of, persona, model):
    client = client_of(persona)
    before = snapshot()
    url = reverse(f"admin:requests_app_{model}_add")
    assert client.get(url).status_code == 403
    assert client.post(url, {"state": "APPROVED", "reason": "forged"}).status_code == 403
    assert snapshot() == before


@pytest.mark.parametrize(("persona", "model"), CASES)
def test_post_to_change_is_refused(rows, client_of, persona, model):
    client = client_of(persona)
    before = snapshot()
    url = reverse(f"admin:requests_app_{model}_change", args=[rows[model]])
    data = {"state": "APPROVED", "reason": "forged", "action": "x", "data": "{}", "_save": "1"}
    assert client.post(url, data).status_code == 403
    assert snapshot() == before


@pytest.mark.parametrize(("persona", "model"), CASES)
def test_delete_is_refused(rows, client_of, persona, model):
    client = client_of(persona)
    before = snapshot()
    url = reverse(f"admin:requests_app_{model}_delete", args=[rows[model]])
    assert client.get(url).status_code == 403
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert snapshot() == before


@pytest.mark.parametrize(("persona", "model"), CASES)
def test_delete_selected_action_is_refused(rows, client_of, persona, model):
    client = client_of(persona)
    before = snapshot()
    data = {"action": "delete_selected", "index": 0, ACTION_CHECKBOX_NAME: [rows[model]]}
    response = client.post(reverse(f"admin:requests_app_{model}_changelist"), data)
    # Lists with other actions answer "No action selected."; lists without any ignore it.
    assert response.status_code in (200, 302)
    assert "Are you sure" not in response.content.decode()
    if response.status_code == 302:
        assert [str(m) for m in get_messages(response.wsgi_request)] == ["No action selected."]
    assert snapshot() == before


@pytest.mark.parametrize("model", ["review", "grant", "auditevent"])
def test_detail_pages_are_view_only(rows, root_client, model):
    response = root_client.get(reverse(f"admin:requests_app_{model}_change", args=[rows[model]]))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="_save"' not in page and "deletelink" not in page
