"""CSV exports for the auditor's spreadsheet: requests and audit events for a period, with
the lists' filters, streamed past a page's size, formulas defused, permissions kept."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accessportal.kernel.models import AuditEvent
from requests_app.selectors import exports
from requests_app.selectors.exports import AUDIT_COLUMNS, REQUEST_COLUMNS
from requests_app.services.access_requests import access_request_create
from tests.requests_app.api.conftest import url

pytestmark = pytest.mark.django_db


def rows_of(response) -> list[dict]:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment; filename=")
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def header_of(response) -> list[str]:
    body = b"".join(response.streaming_content).decode()
    return next(csv.reader(io.StringIO(body)))


def test_requests_export_has_the_columns_and_the_rows(api, approved, pending):
    response = api("sam").get(url("requests/export/"))
    assert header_of(response) == REQUEST_COLUMNS
    rows = rows_of(api("sam").get(url("requests/export/")))
    assert [r["id"] for r in rows] == [str(approved.id), str(pending.id)]  # oldest first
    first = rows[0]
    assert first["user"] == "alice" and first["state"] == "APPROVED"
    assert first["roles"] == "db-admin" and first["reviews"] == "bob:APPROVED"
    assert first["created"].endswith("Z")


def test_requests_export_takes_the_lists_filters(api, approved, pending, requester):
    assert [r["id"] for r in rows_of(api("sam").get(url("requests/export/?state=PENDING")))] == [
        str(pending.id)
    ]
    assert rows_of(api("sam").get(url("requests/export/?user=bob"))) == []
    assert len(rows_of(api("sam").get(url("requests/export/?role=db-admin")))) == 2
    assert rows_of(api("sam").get(url("requests/export/?role=dev-admin"))) == []
    later = timezone.now() + timedelta(days=1)
    with time_machine.travel(later):
        newer = access_request_create(requester=requester, roles=["dev-admin"], reason="INC-5")
    since = (later - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    recent = rows_of(api("sam").get(url("requests/export/"), {"since": since}))
    assert [r["id"] for r in recent] == [str(newer.id)]
    assert len(rows_of(api("sam").get(url("requests/export/"), {"until": since}))) == 2


def test_requests_export_is_what_the_caller_may_see(api, approved):
    assert rows_of(api("mallory").get(url("requests/export/"))) == []  # an outsider: none
    assert len(rows_of(api("alice").get(url("requests/export/")))) == 1  # her own
    assert api(None).get(url("requests/export/")).status_code == 401


def test_a_bad_filter_is_a_400_naming_it(api):
    response = api("sam").get(url("requests/export/?since=yesterday"))
    assert response.status_code == 400 and "since" in response.content.decode()
    response = api("erin").get(url("audit/export/?until=2026-01-01"))
    assert response.status_code == 400 and "until" in response.content.decode()


def test_csv_is_negotiated_by_accept_and_format(api, approved):
    assert rows_of(api("sam").get(url("requests/export/"), HTTP_ACCEPT="text/csv"))
    assert rows_of(api("sam").get(url("requests/export/?format=csv")))


def test_formulas_are_defused(api, requester):
    access_request_create(requester=requester, roles=["db-admin"], reason='=HYPERLINK("x")')
    access_request_create(requester=requester, roles=["db-admin"], reason="@SUM(1)")
    access_request_create(requester=requester, roles=["db-admin"], reason="-2+3")
    access_request_create(requester=requester, roles=["db-admin"], reason="+1 INC-1")
    reasons = [r["reason"] for r in rows_of(api("sam").get(url("requests/export/")))]
    assert reasons == ['\'=HYPERLINK("x")', "'@SUM(1)", "'-2+3", "'+1 INC-1"]
    # Reasons are stripped by the services; a tab or CR first in any other cell: the same.
    assert exports.csv_cell("\tcmd") == "'\tcmd" and exports.csv_cell("\rcmd") == "'\rcmd"
    assert exports.csv_cell("INC-1 = ok") == "INC-1 = ok"


def _excel_cells(text: str) -> list[str]:
    """The cells Excel in a `;`-separator locale (de, fr, nl) makes of one CSV cell's text:
    it splits on `;` whatever the quoting; a cell is a formula when it starts with one."""
    return [part.lstrip(" \t\r\n") for part in text.replace("\n", ";").split(";")]


def test_formulas_after_a_separator_are_defused_too(api, requester):
    hostile = [
        "ticket 12;=cmd|' /C calc'!A0",
        "x; @SUM(1+1)*cmd|' /C calc'!A0",
        "INC-7,+1+1",
        "line one\n-2+3",
        "a\t=1+1",
        "fullwidth;\uff1d1+1",
    ]
    for reason in hostile:
        access_request_create(requester=requester, roles=["db-admin"], reason=reason)
    rows = rows_of(api("sam").get(url("requests/export/")))
    reasons = [r["reason"] for r in rows]
    assert len(reasons) == len(hostile)
    for reason, exported in zip(hostile, reasons, strict=True):
        assert exported.replace("'", "") == reason.replace("'", "")  # nothing else changed
        formulas = [c for c in _excel_cells(exported) if c[:1] in "=+-@\uff1d"]
        assert formulas == [], (reason, exported)
    # The same reasons inside the audit `data` JSON (a cell that starts with `{`).
    events = rows_of(api("erin").get(url("audit/export/?action=request.created")))
    assert len(events) == len(hostile)
    for event in events:
        formulas = [c for c in _excel_cells(event["data"]) if c[:1] in "=+-@\uff1d"]
        assert formulas == [], event["data"]
    # A user name (SSO-sourced) and any other cell go through the same function.
    assert exports.csv_cell(["ok", "a;=1"]) == "ok a;'=1"
    assert exports.csv_cell({"k": "v;@x"}) == '{"k": "v;\'@x"}'
    assert exports.csv_cell("  =1") == "'  =1" and exports.csv_cell("1;2 - 3") == "1;2 - 3"


def test_export_streams_past_one_keyset_page(api, requester, reviewer, monkeypatch):
    monkeypatch.setattr(exports, "EXPORT_CHUNK", 3)
    made = [
        access_request_create(requester=requester, roles=["db-admin"], reason=f"INC-{n}")
        for n in range(8)
    ]
    rows = rows_of(api("sam").get(url("requests/export/")))
    assert [r["id"] for r in rows] == [str(r.id) for r in made]
    events = rows_of(api("erin").get(url("audit/export/")))
    assert [int(e["seq"]) for e in events] == sorted(
        AuditEvent.objects.values_list("seq", flat=True)
    )
    assert len(events) > 3


def test_audit_export_columns_filters_and_permission(api, approved):
    response = api("erin").get(url("audit/export/"))
    assert header_of(response) == AUDIT_COLUMNS
    created = rows_of(api("erin").get(url("audit/export/?action=request.created")))
    assert {e["target_id"] for e in created} == {str(approved.id)}
    assert all(e["action"] == "request.created" for e in created)
    by_bob = rows_of(api("erin").get(url("audit/export/?actor=bob")))
    assert by_bob and all(e["actor"] == "bob" for e in by_bob)
    target = rows_of(api("erin").get(url(f"audit/export/?target_id={approved.id}")))
    assert {e["target_id"] for e in target} == {str(approved.id)}
    future = (timezone.now() + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert rows_of(api("erin").get(url("audit/export/"), {"since": future})) == []
    assert api("mallory").get(url("audit/export/")).status_code == 403
    assert api("alice").get(url("audit/export/")).status_code == 403


def test_an_unknown_format_is_a_400_naming_it(api):
    response = api("sam").get(url("requests/export/?format=xlsx"))
    assert response.status_code == 400 and response.json()["field"] == "format"


def test_an_export_past_the_cap_is_a_400_asking_to_narrow_the_period(api, requester, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    made = [
        access_request_create(requester=requester, roles=["db-admin"], reason=f"INC-{n}")
        for n in range(3)
    ]
    settings.EXPORT_MAX_ROWS = 3
    assert len(rows_of(api("sam").get(url("requests/export/")))) == 3  # at the cap: every row
    settings.EXPORT_MAX_ROWS = 2
    with CaptureQueriesContext(connection) as queries:
        refused = api("sam").get(url("requests/export/"))
    assert refused.status_code == 400 and refused["Content-Type"] == "application/json"
    assert refused.json()["code"] == "export_too_large"
    assert "narrow the period" in refused.json()["detail"]
    # Counted with LIMIT cap + 1, never over the whole table.
    [counted] = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert "LIMIT 3" in counted.upper()
    # Narrowed to fewer rows, the same export answers.
    since = made[1].created.isoformat().replace("+00:00", "Z")
    assert len(rows_of(api("sam").get(url("requests/export/"), {"since": since}))) == 2
    assert api("erin").get(url("audit/export/")).json()["code"] == "export_too_large"
    settings.EXPORT_MAX_ROWS = 0  # no cap
    assert len(rows_of(api("erin").get(url("audit/export/")))) > 2


def test_audit_export_shows_the_chain_links(api, approved):
    events = rows_of(api("erin").get(url("audit/export/")))
    assert len(events) > 2
    for before, after in zip(events, events[1:], strict=False):
        assert after["prev_hash"] == before["hash"]  # unfiltered: consecutive links
    stored = AuditEvent.objects.get(seq=int(events[-1]["seq"]))
    assert events[-1]["prev_hash"] == stored.prev_hash and events[-1]["version"] == str(
        stored.version
    )
