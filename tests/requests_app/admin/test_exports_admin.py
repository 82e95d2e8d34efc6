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


def _full_counts(queries, cap: int) -> list[str]:
    """COUNT(*) statements other than the export's own, bounded to cap + 1 rows (the change
    list's page count and full count)."""
    sqls = [q["sql"].upper() for q in queries]
    return [s for s in sqls if s.startswith("SELECT COUNT(") and f"LIMIT {cap + 1})" not in s]


def test_desk_exports_refuse_past_the_cap_and_never_count_the_whole_table(
    login, make_request, settings
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        make_request(["db-admin"])
    settings.EXPORT_MAX_ROWS = 3
    with CaptureQueriesContext(connection) as queries:
        assert len(rows_of(login("bob").get(REQUESTS_CSV))) == 3
    # The change list builds the rows but pays neither its page nor its two counts.
    assert _full_counts(queries, 3) == []
    settings.EXPORT_MAX_ROWS = 2
    refused = login("bob").get(REQUESTS_CSV)
    assert refused.status_code == 400 and "narrow the period" in refused.content.decode()
    settings.EXPORT_MAX_ROWS = 1
    with CaptureQueriesContext(connection) as queries:
        refused = login("erin").get(AUDIT_CSV)
    assert refused.status_code == 400 and "EXPORT_MAX_ROWS" in refused.content.decode()
    assert _full_counts(queries, 1) == []
