"""Bulk review in a real browser: the confirmation page comes before anything happens, says
which selected requests will be skipped and why, refuses a missing reason without losing the
selection, and then reviews each request.

Policies are the demo's (examples/demo.yaml): alice's requests need a reason; bob and carol
(sre-lead) review; dave's db-admin requests need two approvals.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from accessportal.kernel.choices import RequestState
from policies_app.loader import plan_from_files
from policies_app.services.apply import policies_apply
from requests_app.models import AccessRequest, Review
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit


@pytest.fixture
def demo(transactional_db, web_user):
    policies_apply(plan=plan_from_files([Path(settings.BASE_DIR) / "examples" / "demo.yaml"]))
    return {
        name: web_user(name, staff=name in {"bob", "carol", "erin"})
        for name in ("alice", "bob", "carol", "dave", "erin")
    }


def _select(page, *requests) -> None:
    for r in requests:
        page.locator(f"input.action-select[value='{r.pk}']").check()


def test_bulk_approve_confirms_first_keeps_the_selection_and_names_the_skipped(
    page, admin_login, demo
):
    first = access_request_create(
        requester=demo["alice"], roles=["db-admin"], reason="INC-1: replica lag"
    )
    second = access_request_create(
        requester=demo["alice"], roles=["dev-admin"], reason="INC-2: deploy stuck"
    )
    decided = access_request_create(
        requester=demo["alice"], roles=["dev-admin"], reason="INC-3: old one"
    )
    review_submit(request_id=decided.pk, reviewer=demo["carol"], state="DENIED", reason="no")

    admin_login(page, "bob")
    page.goto("/admin/requests_app/accessrequest/")
    _select(page, first, second, decided)
    page.select_option("select[name=action]", "approve_selected")
    page.click("button[name=index]")

    # Nothing has happened yet: the page asks for the reason and names what it will skip.
    expect(page.locator("h1")).to_have_text("Approve 2 of 3 selected requests")
    expect(page.locator("#bulk-ready .ap-bulk-row")).to_have_count(2)
    expect(page.locator("#bulk-skipped .ap-bulk-skip")).to_have_count(1)
    expect(page.locator("#bulk-skipped")).to_contain_text(
        "This request is denied, no longer pending."
    )
    expect(page.locator("label[for=id_reason]")).to_contain_text("required by some of these")
    assert not Review.objects.filter(reviewer=demo["bob"]).exists()

    # An empty reason is refused before any review, and the same selection is still there.
    page.click("button.ap-btn-approve")
    expect(page.locator(".ap-error")).to_contain_text("A reason is required")
    expect(page.locator("#bulk-ready .ap-bulk-row")).to_have_count(2)
    expect(page.locator("#bulk-skipped .ap-bulk-skip")).to_have_count(1)
    assert not Review.objects.filter(reviewer=demo["bob"]).exists()

    page.fill("#id_reason", "CAB-12: both fine")
    page.click("button.ap-btn-approve")
    expect(page.locator(".messagelist")).to_contain_text("2 of 2 requests reviewed. 1 skipped.")
    states = dict(
        AccessRequest.objects.filter(pk__in=[first.pk, second.pk, decided.pk]).values_list(
            "pk", "state"
        )
    )
    assert states == {
        first.pk: RequestState.APPROVED,
        second.pk: RequestState.APPROVED,
        decided.pk: RequestState.DENIED,
    }
