"""The desk's Export CSV links: the change list's rows, with its filters, as CSV."""

from __future__ import annotations

import csv
import io

from django.urls import reverse

from requests_app.services.reviews import review_submit

REQUESTS = reverse("admin:requests_app_accessrequest_changelist")
REQUESTS_CSV = reverse("admin:requests_app_accessrequest_export")
AUDIT = reverse("admin:requests_app_auditevent_changelist")
AUDIT_CSV = reverse("admin:requests_app_auditevent_export")


def rows_of(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_request_list_links_its_export_with_the_filters(login, make_request, user):
    pending = make_request(["db-admin"])
    decided = make_request(["dev-admin"])
    review_submit(request_id=decided.id, reviewer=user("carol"), state="APPROVED")
    client = login("bob")
    page = client.get(f"{REQUESTS}?state__exact=PENDING").content.decode()
    assert f'href="{REQUESTS_CSV}?state__exact=PENDING"' in page
    rows = rows_of(client.get(f"{REQUESTS_CSV}?state__exact=PENDING"))
    assert [r["id"] for r in rows] == [str(pending.id)]
    assert {r["id"] for r in rows_of(client.get(REQUESTS_CSV))} == {
        str(pending.id),
        str(decided.id),
    }


def test_request_export_is_what_the_viewer_may_see(login, make_request):
    make_request(["db-admin"])
    assert rows_of(login("mallory").get(REQUESTS_CSV)) == []


def test_audit_list_links_its_export_for_auditors_only(login, make_request):
    request = make_request(["db-admin"])
    client = login("erin")
    assert f'href="{AUDIT_CSV}"' in client.get(AUDIT).content.decode()
    rows = rows_of(client.get(f"{AUDIT_CSV}?q={request.id}"))
    assert rows and {r["target_id"] for r in rows} == {str(request.id)}
    assert login("mallory").get(AUDIT_CSV).status_code == 403
