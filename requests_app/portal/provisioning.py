"""What the portal says about provisioning: per target, for the requester's live access, and
the ended access still being removed from a target. Built on the engine's selectors
(`grants_provisioning`, `grant_status`): one rule for every surface."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q

from policies_app.models import ProvisionTarget
from requests_app.models import AccessRequest, Grant, ProvisionAssignment
from requests_app.selectors.provisioning import grant_status, grants_provisioning
from requests_app.selectors.provisioning_targets import DISPLAY_STATE_Q

# How each state reads in a sentence: "group ok (ldap): applied".
WORDS = {
    "applied": "applied",
    "pending": "being applied",
    "failed": "failed, retrying",
    "revoking": "being removed",
    "removed": "removed",
    "kept": "kept by other access",
}
MAX_REMOVING = 20


def _row(grant: Grant, row: dict) -> dict:
    return {**row, "item": grant.target, "words": WORDS.get(row["state"], row["state"])}


def access_with_provisioning(access: list[AccessRequest], now: datetime) -> list[AccessRequest]:
    """Mark each live request with `provisioning`: one row per (item, target), in the order
    of its grants (a fixed number of queries for the whole list)."""
    by_request: dict = {r.pk: r for r in access}
    for r in access:
        r.provisioning = []
    if not access:
        return access
    grants = list(Grant.objects.filter(request__in=list(by_request)).order_by("role", "resource"))
    computed = grants_provisioning(grants, now=now)
    for grant in grants:
        rows = computed[grant.pk].rows
        by_request[grant.request_id].provisioning += [_row(grant, row) for row in rows]
    return access


def access_being_removed(user: AbstractBaseUser, now: datetime) -> list[dict]:
    """The user's ended or revoked access still being taken out of a target: [{request,
    item, rows}] (rows: the targets not yet confirmed), latest end first, one per item."""
    # Targets the user is not confirmed out of (revoking, or still desired: an end the
    # workers have not caught up with); ended grants naming none of them are not revoking.
    targets = ProvisionAssignment.objects.filter(user=user).exclude(DISPLAY_STATE_Q["removed"])
    names = list(
        ProvisionTarget.objects.filter(pk__in=targets.values("target_id")).values_list(
            "roles", "resources"
        )
    )
    if not names:
        return []
    roles = {r for rs, _ in names for r in rs}
    resources = {r for _, rs in names for r in rs}
    ended = Q(revoked_at__isnull=False) | Q(expires__lte=now)
    grants = list(
        Grant.objects.filter(ended, user=user)
        .filter(Q(role__in=roles) | Q(resource__in=resources))
        .select_related("request")
        .order_by("-expires", "-id")[:MAX_REMOVING]
    )
    computed = grants_provisioning(grants, now=now)
    out, seen = [], set()
    for grant in grants:
        shown = computed[grant.pk]
        if grant.target in seen or grant_status(grant, shown, now) != "revoking":
            continue
        seen.add(grant.target)
        rows = [_row(grant, row) for row in shown.rows if row["state"] == "revoking"]
        out.append({"request": grant.request, "item": grant.target, "rows": rows})
    return out
