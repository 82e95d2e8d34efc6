"""CSV exports of requests and audit events for a period (issue 21: the auditor's spreadsheet).

The API (`GET requests/export/`, `GET audit/export/`) and the admin desk's Export links
stream the same rows from a queryset their surface already filtered and restricted: keyset
pages of EXPORT_CHUNK rows (requests by (created, id), events by seq), so a year of history
is never loaded at once and a page never shifts under a row inserted meanwhile.

Text a spreadsheet would read as a formula gets an apostrophe first, in the cell and after
every `;`, `,`, tab or line break inside it (`accessportal.kernel.csv_safe.csv_defuse`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from accessportal.kernel.csv_safe import csv_defuse
from accessportal.kernel.errors import DomainError
from accessportal.kernel.models import AuditEvent
from requests_app.models import AccessRequest, Review

EXPORT_CHUNK = 500


class ExportTooLarge(DomainError):
    """The export would hold more than EXPORT_MAX_ROWS rows: narrow the period (`since` /
    `until`) or the filters and export it in parts."""

    code = "export_too_large"


def export_check_size(queryset: QuerySet) -> None:
    """Refuse an export of more than EXPORT_MAX_ROWS rows before the first byte is sent: a
    longer one would outrun the web worker's timeout and be cut off with a 200. Counted
    with `LIMIT cap + 1`, so the check reads at most cap + 1 rows of the index, never the
    whole table."""
    cap = settings.EXPORT_MAX_ROWS
    if cap and queryset.order_by()[: cap + 1].count() > cap:
        raise ExportTooLarge(
            f"more than {cap} rows to export (EXPORT_MAX_ROWS): narrow the period "
            "(since/until) or the filters, and export it in parts"
        )


def csv_cell(value) -> str:
    """One cell: times in RFC 3339 UTC, lists joined by spaces, None empty, and text a
    spreadsheet would evaluate defused (`csv_defuse`)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, list | tuple):
        value = " ".join(str(v) for v in value)
    elif isinstance(value, dict):
        value = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return csv_defuse(str(value))


class _Line:
    """csv.writer's file: hands back each line instead of storing it."""

    def write(self, line: str) -> str:
        return line


def csv_lines(header: list[str], rows: Iterable[list]) -> Iterator[str]:
    """The header, then each row, as CSV lines (RFC 4180: CRLF, quotes doubled)."""
    writer = csv.writer(_Line())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([csv_cell(v) for v in row])


def _keyset(
    queryset: QuerySet, order: tuple[str, str], after: Callable[[object], Q]
) -> Iterator[object]:
    """Every row of `queryset` in `order`, EXPORT_CHUNK at a time, each page starting after
    the last row of the one before (`after(row)`)."""
    page = queryset.order_by(*order)
    last = None
    while True:
        rows = list((page if last is None else page.filter(after(last)))[:EXPORT_CHUNK])
        yield from rows
        if len(rows) < EXPORT_CHUNK:
            return
        last = rows[-1]


REQUEST_COLUMNS = [
    "id", "user", "state", "roles", "resources", "reason", "created", "expires",
    "requested_duration", "max_duration", "assume_start_time", "access_starts",
    "access_expires", "reviews", "resolved_at", "resolved_by", "resolve_reason",
    "revoked_at", "revoked_by", "revoke_reason", "extends",
]  # fmt: skip


def _name(user) -> str | None:
    return user.get_username() if user is not None else None


def request_rows(queryset: QuerySet[AccessRequest]) -> Iterator[list]:
    """One row per request of `queryset` (already restricted to what the caller may see),
    oldest first; `reviews` as `reviewer:STATE` pairs in the order they were given."""
    # Only what a row shows: the surface's own joins and prefetches are replaced, and the
    # policy snapshot and other JSON the CSV does not show are left unread (they were most
    # of an export's time).
    queryset = (
        queryset.select_related(None)
        .select_related("user", "resolved_by", "revoked_by")
        .prefetch_related(None)
        .prefetch_related(Prefetch("reviews", queryset=Review.objects.select_related("reviewer")))
        .defer("policy", "annotations", "suggested_reviewers")
    )
    after = lambda r: Q(created__gt=r.created) | Q(created=r.created, pk__gt=r.pk)  # noqa: E731
    for r in _keyset(queryset, ("created", "pk"), after):
        reviews = sorted(r.reviews.all(), key=lambda v: (v.created, v.pk))
        yield [
            r.pk, _name(r.user), r.state, r.roles, r.resources, r.reason, r.created, r.expires,
            r.requested_duration, r.max_duration, r.assume_start_time, r.access_starts,
            r.access_expires, [f"{_name(v.reviewer)}:{v.state}" for v in reviews],
            r.resolved_at, _name(r.resolved_by), r.resolve_reason, r.revoked_at,
            _name(r.revoked_by), r.revoke_reason, r.extends_id,
        ]  # fmt: skip


# `prev_hash`, `hash` and `version` show the chain's links; `data` is re-serialised for
# reading (sorted keys, defused), not the hashed form: verify with `audit_verify`/anchors.
AUDIT_COLUMNS = [
    "seq", "created", "actor", "action", "target_type", "target_id", "data", "prev_hash",
    "hash", "version",
]  # fmt: skip


def audit_rows(queryset: QuerySet[AuditEvent]) -> Iterator[list]:
    """One row per event of `queryset`, in chain order (seq)."""
    for e in _keyset(queryset, ("seq",), lambda e: Q(seq__gt=e.seq)):
        yield [e.seq, e.created, e.actor_name, e.action, e.target_type, e.target_id, e.data,
               e.prev_hash, e.hash, e.version]  # fmt: skip


def csv_response(name: str, header: list[str], rows: Iterable[list]) -> StreamingHttpResponse:
    """A streamed CSV download, `<name>-<UTC time>.csv` (the API's and the desk's)."""
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(
        csv_lines(header, rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def requests_csv(queryset: QuerySet[AccessRequest]) -> StreamingHttpResponse:
    """The requests export of `queryset` (already restricted and filtered by its surface);
    ExportTooLarge past EXPORT_MAX_ROWS."""
    export_check_size(queryset)
    return csv_response("requests", REQUEST_COLUMNS, request_rows(queryset))


def audit_csv(queryset: QuerySet[AuditEvent]) -> StreamingHttpResponse:
    """The audit export of `queryset` (already filtered by its surface); ExportTooLarge past
    EXPORT_MAX_ROWS."""
    export_check_size(queryset)
    return csv_response("audit", AUDIT_COLUMNS, audit_rows(queryset))
