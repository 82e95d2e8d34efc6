"""Deprovisioning: a person who left loses everything at once (ARCHITECTURE invariant 12).

Called when an identity provider deactivates or deletes a user through SCIM, and when an
administrator marks an account inactive. In one transaction: the account is deactivated
(access checks, sessions and API tokens refuse an inactive user on the very next call), every
access that has not ended is revoked (grants closed, requester told, audited), every pending
request and every pending policy proposal of theirs is withdrawn, the personal API token is
deleted and every session token (`accessctl login --sso`) revoked, and, if
ACCESSPORTAL_DEPROVISION_VOIDS_REVIEWS
is on (the default), the person's reviews on requests still pending stop counting toward
their thresholds. The events are appended last, as by every service.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accessportal.kernel.audit import AuditEntry, actor_label, audit_record_many
from accessportal.kernel.choices import RequestState
from accessportal.kernel.errors import NotFound
from accessportal.kernel.locking import retry_on_conflict
from policies_app.services.proposals import policy_proposals_withdraw_for
from requests_app.models import AccessRequest, Review
from requests_app.services.grants import revoke_locked
from requests_app.services.resolution import resolve_locked
from requests_app.services.tokens import session_tokens_revoke
from requests_app.services.visibility import accounts_profiles_sync
from requests_app.token_models import CliLogin, CliLoginState


@dataclass
class Deprovisioned:
    """What deprovisioning one user did (ids as strings)."""

    revoked: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    voided_reviews: list[str] = field(default_factory=list)
    token_deleted: bool = False
    session_tokens_revoked: int = 0
    deactivated: bool = False
    proposals_withdrawn: list[int] = field(default_factory=list)  # pending policy proposals


def _locked_requests(user_id: int, now) -> tuple[list[AccessRequest], list[AccessRequest]]:
    """The user's live approved requests and pending ones, locked in one order (the request
    rows first, as every writer takes them)."""
    rows = list(
        AccessRequest.objects.select_for_update(of=("self",), no_key=True)
        .select_related("user")
        .filter(user_id=user_id, state__in=[RequestState.APPROVED, RequestState.PENDING])
        .order_by("created", "id")
    )
    live = [r for r in rows if r.state == RequestState.APPROVED and r.access_expires > now]
    pending = [r for r in rows if r.state == RequestState.PENDING]
    return live, pending


@retry_on_conflict
@transaction.atomic
def user_deprovision(
    *, user_id: object, actor: AbstractBaseUser | str, reason: str
) -> Deprovisioned:
    """End everything `user_id` holds or waits for, now; idempotent (a second call finds
    nothing left and records nothing). `actor`: the administrator, or the provider as a
    named system actor ("scim:okta"). NotFound for an unknown user."""
    User = get_user_model()
    user = User.objects.select_for_update(no_key=True).filter(pk=user_id).first()
    if user is None:
        raise NotFound("no such user")
    audit: list[AuditEntry] = []
    done = deprovision_locked(user, actor=actor, reason=reason, audit=audit)
    audit_record_many(audit)  # last: it takes the chain head
    return done


def deprovision_locked(
    user: AbstractBaseUser, *, actor: AbstractBaseUser | str, reason: str, audit: list
) -> Deprovisioned:
    """`user_deprovision` for a caller that holds the user's row locked in its own
    transaction (directory sync): appends the events to `audit`, which the caller records
    last."""
    now = timezone.now()
    done = Deprovisioned()
    live, pending = _locked_requests(user.pk, now)
    for request in live:
        audit.append(revoke_locked(request, actor=actor, reason=reason, now=now))
        done.revoked.append(str(request.id))
    for request in pending:
        resolve_locked(
            request, RequestState.WITHDRAWN, actor=actor, reason=reason, now=now, audit=audit
        )
        done.withdrawn.append(str(request.id))
    if settings.ACCESSPORTAL_DEPROVISION_VOIDS_REVIEWS:
        reviews = Review.objects.filter(
            reviewer=user, voided_at=None, request__state=RequestState.PENDING
        )
        done.voided_reviews = [str(r) for r in reviews.values_list("request_id", flat=True)]
        reviews.update(voided_at=now)
    done.token_deleted = Token.objects.filter(user=user).delete()[0] > 0
    done.session_tokens_revoked = session_tokens_revoke(user=user, now=now)
    # A CLI sign-in approved but not yet exchanged would mint a token after this: denied.
    CliLogin.objects.filter(
        user=user, state__in=[CliLoginState.PENDING, CliLoginState.APPROVED]
    ).update(state=CliLoginState.DENIED)
    # A pending policy change of theirs is withdrawn too: never applied after they leave.
    done.proposals_withdrawn = policy_proposals_withdraw_for(
        user_id=user.pk, actor=actor, reason=reason, audit=audit
    )
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
        done.deactivated = True
    # Out of every reviewer profile at once (visibility and the review queue follow), and
    # out of every provisioning target (standing roles included: the account is inactive).
    accounts_profiles_sync(user_ids=[user.pk])
    if (
        done.deactivated
        or done.revoked
        or done.withdrawn
        or done.voided_reviews
        or done.session_tokens_revoked
        or done.proposals_withdrawn
    ):
        data = {
            "user": user.get_username(),
            "by": actor_label(actor),
            "reason": reason,
            "revoked": done.revoked,
            "withdrawn": done.withdrawn,
            "proposals_withdrawn": done.proposals_withdrawn,
            "voided_reviews": done.voided_reviews,
            "token_deleted": done.token_deleted,
            "session_tokens_revoked": done.session_tokens_revoked,
        }
        audit.append(AuditEntry("user.deprovisioned", "user", str(user.pk), actor, data))
    return done
