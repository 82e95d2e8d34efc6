"""Extensions: asking for more time on access one already has.

An extension is an ordinary access request for the same roles and resources, linked to the
approved request it continues (`AccessRequest.extends`). It is checked against today's
policies and reviewed like any other request; when approved, its access starts when the
old access ends (or now, if that is later), so there is no gap (`windows.access_start_for`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accessportal.kernel.choices import RequestState
from accessportal.kernel.errors import (
    AccessEnded,
    BreakGlassUnratified,
    ExtensionPending,
    NotAllowed,
    NotApproved,
)
from accessportal.kernel.locking import retry_on_conflict
from requests_app.break_glass_models import BreakGlass, Ratification
from requests_app.models import AccessRequest
from requests_app.services.access_requests import access_request_create
from requests_app.services.locking import request_lock
from requests_app.services.preconditions import ensure_if_match

NOT_THE_REQUESTER = "only the requester may extend their access"


def ensure_may_extend(request: AccessRequest, user: AbstractBaseUser) -> None:
    """Refuse with NotAllowed (403) unless `user` asked for `request`: the answer every
    surface gives to someone who may see the request but not extend it, as for withdraw.
    Surfaces answer 404 first for a request the user may not see."""
    if request.user_id != user.pk:
        raise NotAllowed(NOT_THE_REQUESTER)


def _live_own(request: AccessRequest, user: AbstractBaseUser, now) -> bool:
    return request.user_id == user.pk and request.is_access_live_at(now)


def awaiting_ratification(request: AccessRequest) -> bool:
    """Whether `request` is break-glass access still awaiting ratification: not extended
    until ratified (an approved extension would carry it past its deadline)."""
    return BreakGlass.objects.filter(request=request, state=Ratification.AWAITING).exists()


def extendable(request: AccessRequest, user: AbstractBaseUser, now=None) -> bool:
    """Whether `user` may ask to extend `request`: their own, approved, not yet ended, and
    not break-glass awaiting ratification."""
    now = now or timezone.now()
    return _live_own(request, user, now) and not awaiting_ratification(request)


def pending_extension(request: AccessRequest, now=None) -> AccessRequest | None:
    """The extension of `request` still waiting for review, if there is one."""
    now = now or timezone.now()
    return (
        AccessRequest.objects.filter(extends=request).pending_at(now).order_by("-created").first()
    )


@retry_on_conflict
@transaction.atomic
def access_request_extend(
    *,
    requester: AbstractBaseUser,
    request_id: object,
    reason: str = "",
    max_duration: object = None,
    request_ttl: object = None,
    suggested_reviewers: Iterable[str] | None = None,
    dry_run: bool = False,
    if_match: Collection[str] | None = None,
) -> AccessRequest:
    """Ask to continue the access of `request_id` (the requester's own, approved, not ended).

    Creates (or with `dry_run` returns unsaved) a PENDING request for the same items, linked
    by `extends`; policy, reason rules, caps and reviewers apply as to any request. Refused
    with NotAllowed for someone else's request (`ensure_may_extend`; surfaces answer 404
    before this for a request the caller may not see) and Conflict when the access already
    ended, was revoked, already has an extension pending, or is break-glass access still
    awaiting ratification (BreakGlassUnratified).
    """
    original = request_lock(request_id)
    ensure_may_extend(original, requester)
    ensure_if_match(original, if_match)  # of the request extended
    now = timezone.now()
    if not _live_own(original, requester, now):
        if original.state != RequestState.APPROVED:
            state = original.state.lower()
            raise NotApproved(f"only approved access can be extended; this request is {state}")
        raise AccessEnded("this access already ended: ask for it again with a new request")
    if awaiting_ratification(original):
        # An approved extension would carry the access past the deadline: an ordinary
        # approval standing in for the ratification.
        raise BreakGlassUnratified(
            "this break-glass access is awaiting ratification: it may be extended once a "
            "reviewer has ratified it"
        )
    waiting = pending_extension(original, now)
    if waiting is not None:
        raise ExtensionPending(
            f"an extension of this access is already waiting for review (request {waiting.id})"
        )
    return access_request_create(
        requester=requester,
        roles=list(original.roles),
        resources=list(original.resources),
        reason=reason,
        max_duration=max_duration,
        request_ttl=request_ttl,
        suggested_reviewers=suggested_reviewers,
        dry_run=dry_run,
        extends=original,
    )
