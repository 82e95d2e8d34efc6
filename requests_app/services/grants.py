"""Grants: created when a request is approved, revoked early, ended by the clock.

Access ends at `expires` whatever happens here (checks compare the window with now);
ending a grant only records it and tells the requester.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accessportal.kernel.audit import AuditEntry, actor_account, actor_label, audit_record_many
from accessportal.kernel.choices import AuditAction, RequestState
from accessportal.kernel.errors import AccessEnded, NotAllowed, ReasonRequired
from accessportal.kernel.locking import retry_on_conflict
from requests_app.models import AccessRequest, Grant
from requests_app.querysets import grant_open_sql
from requests_app.selectors import may_review, reviews_anything
from requests_app.services.claims import rows_claim
from requests_app.services.locking import request_lock
from requests_app.services.outbox import (
    outbox_enqueue,
    outbox_enqueue_many,
    outbox_notice,
    request_payload,
)
from requests_app.services.preconditions import ensure_if_match
from requests_app.services.provisioning import provisioning_sync
from requests_app.services.text import clean_text
from requests_app.services.transitions import request_transition_save, transition_check
from requests_app.services.windows import access_start_for


def grant_audit_data(grant: Grant) -> dict:
    """What the approval event records of each grant it opens."""
    return {"id": grant.pk, "role": grant.role, "resource": grant.resource,
            "starts": grant.starts, "expires": grant.expires}  # fmt: skip


def grants_create_for(
    request: AccessRequest, now: datetime, *, ends_by: datetime | None = None
) -> list[Grant]:
    """Open the access window of an approved request and write its grants.

    Access starts at `windows.access_start_for` (max(approval time, assume_start_time), or
    the end of the access an extension continues) and lasts the approved duration, so the wait for
    approval does not eat the access time. Caller holds the request lock. Access starting
    now is activated now; a later start is activated by a worker (`services.activation`),
    which re-checks policy first. `ends_by` caps the window (a break-glass use ends at its
    ratification deadline unless ratified: `services.break_glass`).
    """
    starts = access_start_for(request, now)
    expires = starts + timedelta(seconds=request.max_duration)
    if ends_by is not None:
        expires = min(expires, ends_by)
    activated = starts if starts <= now else None
    request.access_starts, request.access_expires = starts, expires
    grants = [
        Grant(
            request=request,
            user_id=request.user_id,
            role=role,
            starts=starts,
            expires=expires,
            created=now,
            activated_at=activated,
        )
        for role in request.roles
    ] + [
        Grant(
            request=request,
            user_id=request.user_id,
            resource=rid,
            starts=starts,
            expires=expires,
            created=now,
            activated_at=activated,
        )
        for rid in request.resources
    ]
    created = Grant.objects.bulk_create(grants)
    if activated:
        provisioning_sync([request.user_id], now)  # downstream access starts now too
    return created


def may_revoke(request: AccessRequest, actor: AbstractBaseUser) -> bool:
    """The requester, any eligible reviewer of the request, or holders of revoke_grant."""
    if actor.pk == request.user_id or actor.has_perm("requests_app.revoke_grant"):
        return True
    return may_review(request, actor)  # an eligible reviewer: the same check as reviewing


def _continuations_of(roots: list, queryset) -> dict[object, list[AccessRequest]]:
    """The approved or pending extensions continuing each root pk, down the chain (an
    extension of an extension), parents before children: one query per generation."""
    found: dict[object, list[AccessRequest]] = {pk: [] for pk in roots}
    root_of = {pk: pk for pk in roots}
    parents = list(roots)
    while parents:
        children = list(
            queryset.filter(
                extends_id__in=parents, state__in=[RequestState.PENDING, RequestState.APPROVED]
            ).order_by("created", "id")
        )
        for child in children:
            root_of[child.pk] = root_of[child.extends_id]
            found[root_of[child.pk]].append(child)
        parents = [c.pk for c in children if c.state == RequestState.APPROVED]
    return found


def may_revoke_any(actor: AbstractBaseUser, *, reviews: bool | None = None) -> bool:
    """Whether `may_revoke` can answer yes for `actor` on some request today: holders of
    revoke_grant, reviewers (`selectors.reviews_anything`; `reviews`: that answer when the
    caller has it), and requesters with access of their own still to end (a grant open now
    or scheduled, not expired, not revoked). Where to offer Revoke at all;
    `access_request_revoke` still decides per request."""
    if actor.has_perm("requests_app.revoke_grant"):
        return True
    if reviews_anything(actor) if reviews is None else reviews:
        return True
    return Grant.objects.filter(user_id=actor.pk).unended_at(timezone.now()).exists()


def continuations_lock(request: AccessRequest) -> list[AccessRequest]:
    """The extensions that continue `request`'s access, locked, parents before children.

    Approved or still pending ones only, down the chain (an extension of an extension):
    what `access_request_revoke` ends with it (`continuations` reads the same, unlocked).
    Called with `request` locked and before anything else is written or audited, so that
    the lock order stays request → its extensions → grants → audit head: a reviewer
    approving an extension holds the extension and then the audit head, never the reverse.
    """
    locking = AccessRequest.objects.select_for_update(of=("self",), no_key=True)
    return _continuations_of([request.pk], locking.select_related("user"))[request.pk]


def continuations(request: AccessRequest) -> list[AccessRequest]:
    """Read-only `continuations_lock`: what revoking `request` would also end (approved
    extensions) or close (pending ones), down the whole chain."""
    return continuations_many([request])[request.pk]


def continuations_many(requests: list[AccessRequest]) -> dict[object, list[AccessRequest]]:
    """`continuations` for each of `requests`, by pk, with one query per generation."""
    return _continuations_of([r.pk for r in requests], AccessRequest.objects.all())


def revoke_locked(
    request: AccessRequest,
    *,
    actor: AbstractBaseUser | str,
    reason: str,
    now: datetime,
    data=None,
) -> AuditEntry:
    """End a locked APPROVED request's access now: grants, state, notification. Returns
    its audit event, for the caller to append once all its work is done (head last).
    `actor`: a user, or a named system actor ("scim:okta") that is nobody's account."""
    transition_check(request.state, RequestState.REVOKED)  # before the grants are touched
    Grant.objects.filter(request=request, revoked_at=None).update(revoked_at=now, ended_at=now)
    provisioning_sync([request.user_id], now)  # out of the targets no other access keeps
    request_transition_save(
        request,
        RequestState.REVOKED,
        revoked_at=now,
        revoked_by=actor_account(actor),
        revoke_reason=reason,
    )
    outbox_enqueue(
        event="access.revoked",
        request_id=request.id,
        recipients=[request.user.get_username()],
        payload={
            **request_payload(request),
            "revoke_reason": reason,
            "revoked_by": actor_label(actor),
        },
    )
    return AuditEntry(
        action=AuditAction.REQUEST_REVOKED,
        target_type="access_request",
        target_id=str(request.id),
        actor=actor,
        data={
            "reason": reason,
            "roles": request.roles,
            "resources": request.resources,
            **(data or {}),
        },
    )


@retry_on_conflict
@transaction.atomic
def access_request_revoke(
    *,
    request_id: object,
    actor: AbstractBaseUser,
    reason: str,
    if_match: Collection[str] | None = None,
) -> AccessRequest:
    """End an approved request's access now (or cancel it before it starts); reason required.

    Revocation ends everything that continues that access, so it cannot come back later:
    approved extensions are revoked with it, and pending ones are closed (withdrawn when
    the requester revokes, denied otherwise), each audited with `with` naming this request.
    """
    reason = clean_text(reason, field="reason")
    request = request_lock(request_id)
    if not may_revoke(request, actor):
        raise NotAllowed("you may not revoke this access")
    if not reason:
        raise ReasonRequired("a reason is required to revoke access", field="reason")
    ensure_if_match(request, if_match)
    transition_check(request.state, RequestState.REVOKED)
    now = timezone.now()
    if request.access_expires and request.access_expires <= now:
        raise AccessEnded("this access already ended")
    audit = revoke_with_continuations(request, actor=actor, reason=reason, now=now)
    audit_record_many(audit)  # last, once every continuation is closed: it takes the head
    return request


def revoke_with_continuations(
    request: AccessRequest,
    *,
    actor: AbstractBaseUser,
    reason: str,
    now: datetime,
    data: dict | None = None,
    revoke_original: bool = True,
) -> list[AuditEntry]:
    """End a locked APPROVED request's access now and everything that continues it
    (`continuations_lock`): approved extensions revoked, pending ones closed (withdrawn when
    the requester revokes, denied otherwise). Returns the audit events, for the caller to
    append last. The revocation `access_request_revoke` and a break-glass rejection share;
    a late rejection passes `revoke_original=False` (its own access already ended) and still
    ends the extensions that carry it on."""
    # resolution imports this module (grants are opened on approval).
    from requests_app.services.resolution import resolve_locked

    continuations = continuations_lock(request)
    audit = (
        [revoke_locked(request, actor=actor, reason=reason, now=now, data=data)]
        if revoke_original
        else []
    )
    linked = {"with": str(request.id)}
    for extension in continuations:
        if extension.state == RequestState.APPROVED:
            audit.append(revoke_locked(extension, actor=actor, reason=reason, now=now, data=linked))
        else:
            closed = (
                RequestState.WITHDRAWN if extension.user_id == actor.pk else RequestState.DENIED
            )
            resolve_locked(
                extension, closed, actor=actor, reason=reason, now=now, data=linked, audit=audit
            )
    return audit


def continuation_exists_sql(alias: str, now: datetime) -> tuple[str, list]:
    """`continuation_exists` as SQL over the grant row `alias`, with its params, for a
    statement the ORM cannot write (`grants_end_due`'s claim). Built from the fragment the
    access check's chain uses; tests/requests_app/test_querysets.py compares the three.
    """
    return (
        f"EXISTS (SELECT 1 FROM {Grant._meta.db_table} c WHERE c.user_id = {alias}.user_id "
        f"AND c.role = {alias}.role AND c.resource = {alias}.resource AND "
        + grant_open_sql(f"{alias}.expires", revoked_by="%s", alias="c")
        + ")",
        [connection.ops.adapt_datetimefield_value(now)],
    )


def continuation_exists(now: datetime) -> Exists:
    """Whether the outer grant's access goes on past its end: another grant of the same user
    and item, not revoked by `now`, is open at the instant it ends (an approved extension
    taking over).

    The sweeps ask it so that continuing access is not announced as ending; the access
    check's statement builds the same rule from the same SQL fragment to report the end of
    the whole chain (`access._chain`); tests/requests_app/test_querysets.py compares them.
    """
    return Exists(
        Grant.objects.filter(
            user_id=OuterRef("user_id"), role=OuterRef("role"), resource=OuterRef("resource")
        ).open_at(OuterRef("expires"), revoked_by=now)
    )


@retry_on_conflict
@transaction.atomic
def grants_end_due(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Record the end of grants whose window has closed; idempotent (compare-and-swap).

    Returns how many grants it ended (at most `limit`; call again until 0). One audit
    event per grant and one notification per request, written in bulk; no notification
    for a request whose every ending grant is continued by another (`continuation_exists`:
    an approved extension took over, so the access has not ended). Grants locked by another
    transaction are skipped, left to the next sweep. Access itself ended at `expires`
    regardless.
    """
    now = now or timezone.now()
    # One statement picks, locks, ends and reads back the batch; plain rows, not model
    # instances: this runs over every grant ever given.
    claimed = rows_claim(
        Grant.objects.filter(expires__lte=now).order_by("expires"),
        guard={"ended_at": None},
        sets={"ended_at": now},
        limit=limit,
        returning=(
            "id", "request", "role", "resource", "expires",
            f"user__{get_user_model().USERNAME_FIELD}", "user",
        ),
        computed=[lambda row: continuation_exists_sql(row, now)],
        skip_locked=True,
    )  # fmt: skip
    if not claimed:
        return 0
    # (id, request_id, role, resource, expires, username, continued, user_id), in the lock
    # order: RETURNING has none.
    due = sorted(
        ((pk, request_id, role, resource, expires, username, bool(continued), user_id)
         for pk, request_id, role, resource, expires, username, user_id, continued in claimed),
        key=lambda grant: (grant[4], grant[0]),
    )  # fmt: skip
    provisioning_sync({g[7] for g in due}, now)
    first_by_request: dict = {}
    ended = {grant[1] for grant in due if not grant[6]}
    for grant in due:
        if grant[1] in ended:
            first_by_request.setdefault(grant[1], grant)
    outbox_enqueue_many(
        [
            outbox_notice(
                event="access.ended",
                request_id=request_id,
                recipients=[username],
                payload={
                    "request_id": str(request_id),
                    "user": username,
                    "expired": expires.isoformat(),
                },
            )
            for _, request_id, _, _, expires, username, _, _ in first_by_request.values()
        ]
    )
    audit_record_many(  # last: it takes the chain head
        [
            AuditEntry(
                action=AuditAction.GRANT_ENDED,
                target_type="grant",
                target_id=str(pk),
                data={
                    "user": username,
                    "target": role or resource,
                    "expires": expires,
                    "request": str(request_id),
                },
            )
            for pk, request_id, role, resource, expires, username, _, _ in due
        ]
    )
    return len(due)
