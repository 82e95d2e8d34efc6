"""Grant usage: when the access a grant gives was first and last used (issue 21).

A use is an allowed access check answered from a grant (`selectors.access.access_check`,
`access_check_by_name`; over HTTP only `GET access/check/` about another user, the resource
side asking: a self-check is not a use) or a credential issued with the grant in it
(`services.credentials.credential_issue`, self-declared). `user.has_perm()` is not a use:
Django asks it for every page and menu, so it says nothing about whether the person needed
the access.

Cheap on the hot path: each process remembers when it last wrote (user, item) and skips the
database for USAGE_RECORD_INTERVAL seconds; the write itself is conditional
(`last_used IS NULL OR last_used < now - interval`), so several processes write a grant at
most about once per interval between them. Rows another transaction holds (a revocation in
flight) are skipped, never waited for.

Not a state change of the request: no audit event per use (the evidence bundle reports
`first_used`/`last_used`). A failing write (a read replica, a lock, a broken connection) is
logged and forgotten: an access check never fails because of it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import Error, connection, transaction
from django.db.models import Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from requests_app.models import Grant

log = logging.getLogger(__name__)

# (user id, "role" | "resource", name) -> when this process last wrote its grants' use.
_recent: dict[tuple[int, str, str], datetime] = {}
_recent_lock = threading.Lock()
_RECENT_MAX = 50_000  # forgotten wholesale past this size: at worst one more write each


def usage_cache_clear() -> None:
    """Forget what this process wrote (tests: ids are reused between them on SQLite)."""
    with _recent_lock:
        _recent.clear()


def _due(keys: list[tuple[int, str, str]], now: datetime, interval: timedelta) -> list:
    with _recent_lock:
        return [k for k in keys if not (k in _recent and now - interval < _recent[k] <= now)]


def _remember(keys: list[tuple[int, str, str]], now: datetime) -> None:
    with _recent_lock:
        if len(_recent) + len(keys) > _RECENT_MAX:
            _recent.clear()
        for key in keys:
            _recent[key] = now


def grant_usage_record(
    *,
    user_id: int,
    roles: Iterable[str] = (),
    resources: Iterable[str] = (),
    at: datetime | None = None,
) -> int:
    """Record use now of `user_id`'s grants of `roles` / `resources` open at `at`: sets
    `first_used` if unset and `last_used`, at most once per USAGE_RECORD_INTERVAL per grant.
    Returns the number of grants written; never raises for a database error."""
    now = at or timezone.now()
    interval = timedelta(seconds=settings.USAGE_RECORD_INTERVAL)
    keys = [(user_id, "role", r) for r in roles if r]
    keys += [(user_id, "resource", r) for r in resources if r]
    due = _due(keys, now, interval)
    if not due:
        return 0
    items = Q()
    for _, kind, name in due:
        items |= Q(**{kind: name})
    stale = Q(last_used=None) | Q(last_used__lt=now - interval)
    try:
        own_transaction = not connection.in_atomic_block
        with transaction.atomic():
            if own_transaction and connection.vendor == "postgresql":
                # A use is a best-effort record: its transaction need not wait for the WAL
                # flush (a crash may lose the last fraction of a second of uses, nothing else).
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit = off")
            # One UPDATE; SKIP LOCKED: a grant being revoked or ended now is not waited for.
            due_now = (
                Grant.objects.filter(items, stale, user_id=user_id)
                .open_at(now)
                .order_by()
                .select_for_update(skip_locked=True, no_key=True)
                .values("pk")
            )
            written = Grant.objects.filter(pk__in=Subquery(due_now)).update(
                first_used=Coalesce("first_used", Value(now)), last_used=now
            )
    except Error:  # DatabaseError, and InterfaceError (a connection already closed)
        log.warning("grant usage not recorded for user %s", user_id, exc_info=True)
        return 0
    _remember(due, now)
    return written
