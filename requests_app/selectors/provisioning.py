"""What should be provisioned, and what a grant's provisioning looks like.

"What should be" (ARCHITECTURE invariant 11): user U is a member of target T now iff U is
active, T is not retired, and U holds a standing role in T.roles or has a grant open now
(activated or extending access, not revoked, starts <= now < expires) of a role in T.roles
or a resource in T.resources. `desired_targets_for_users` answers it for a set of users
(the syncs in the write services), `desired_members_of_target` for one target (the
reconciler); a test compares them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Q

from policies_app.models import ProvisionTarget, RoleMembership
from requests_app.models import Grant, ProvisionAssignment


@dataclass(frozen=True)
class TargetScope:
    """A live target's id and the role and resource names that provision it."""

    id: int
    roles: frozenset[str]
    resources: frozenset[str]


def live_targets() -> list[TargetScope]:
    """Every target not retired: one query (on the partial index), [] when nothing is
    provisioned, which is what keeps the write paths cheap then."""
    return [
        TargetScope(pk, frozenset(roles), frozenset(resources))
        for pk, roles, resources in ProvisionTarget.objects.filter(retired_at=None)
        .order_by("id")
        .values_list("id", "roles", "resources")
    ]


def _open_grants(now: datetime):
    """Grants giving access now that provisioning follows: activated (a later start waits
    for the policy re-check), or continuing access through an extension, so the member is
    not taken out and put back while the extension's start is re-checked."""
    return Grant.objects.open_at(now).filter(
        Q(activated_at__isnull=False) | Q(request__extends__isnull=False)
    )


def desired_targets_for_users(
    user_ids: Iterable[int], now: datetime, targets: list[TargetScope] | None = None
) -> dict[int, set[int]]:
    """{user id: ids of the live targets they should be a member of now} for `user_ids`
    (every given user is a key, inactive ones with an empty set)."""
    user_ids = set(user_ids)
    targets = live_targets() if targets is None else targets
    out: dict[int, set[int]] = {uid: set() for uid in user_ids}
    if not targets or not user_ids:
        return out
    active = set(
        get_user_model()
        .objects.filter(pk__in=user_ids, is_active=True)
        .values_list("pk", flat=True)
    )
    if not active:
        return out
    role_names = set().union(*(t.roles for t in targets))
    resource_ids = set().union(*(t.resources for t in targets))
    held: dict[int, set[str]] = {uid: set() for uid in active}
    for uid, name in RoleMembership.objects.filter(
        user_id__in=active, role__name__in=role_names
    ).values_list("user_id", "role__name"):
        held[uid].add(name)
    granted_roles: dict[int, set[str]] = {uid: set() for uid in active}
    granted_resources: dict[int, set[str]] = {uid: set() for uid in active}
    for uid, role, resource in (
        _open_grants(now)
        .filter(Q(role__in=role_names) | Q(resource__in=resource_ids), user_id__in=active)
        .values_list("user_id", "role", "resource")
    ):
        if role:
            granted_roles[uid].add(role)
        else:
            granted_resources[uid].add(resource)
    for uid in active:
        roles = held[uid] | granted_roles[uid]
        out[uid] = {
            t.id for t in targets if roles & t.roles or granted_resources[uid] & t.resources
        }
    return out


def desired_members_of_target(target: ProvisionTarget, now: datetime) -> set[int]:
    """Ids of the users who should be members of `target` now (none when it is retired)."""
    if target.retired_at is not None:
        return set()
    active = Q(user__is_active=True)
    standing = set(
        RoleMembership.objects.filter(active, role__name__in=target.roles).values_list(
            "user_id", flat=True
        )
    )
    granted = set(
        _open_grants(now)
        .filter(active)
        .filter(Q(role__in=target.roles) | Q(resource__in=target.resources))
        .values_list("user_id", flat=True)
    )
    return standing | granted


def _ended(grant: Grant, now: datetime) -> bool:
    return grant.revoked_at is not None or grant.expires <= now


@dataclass
class GrantProvisioning:
    """A grant's provisioning: one row per target naming its role or resource
    ({target, provisioner, state, error, updated}), and whether the grant is "revoking"
    (ended or revoked, with a target not yet confirming the removal)."""

    revoking: bool = False
    rows: list[dict] = field(default_factory=list)


def grants_provisioning(grants: Iterable[Grant], *, now: datetime) -> dict[int, GrantProvisioning]:
    """{grant id: GrantProvisioning} for `grants` (one query for targets, one for the
    assignments). A row's state is its assignment's displayed state (`display_state`), or
    "kept" when the grant no longer gives access but another grant or a standing role keeps
    the user a member. Grants naming no target get an empty GrantProvisioning."""
    grants = list(grants)
    # Retired targets too: a grant shows "revoking" until they confirm the removal.
    targets = list(ProvisionTarget.objects.order_by("provisioner", "label", "id"))
    out: dict[int, GrantProvisioning] = {g.pk: GrantProvisioning() for g in grants}
    if not grants or not targets:
        return out
    naming = {
        g.pk: [t for t in targets if (g.role and g.role in t.roles) or g.resource in t.resources]
        for g in grants
    }
    naming = {pk: ts for pk, ts in naming.items() if ts}
    if not naming:
        return out
    wanted_users = {g.user_id for g in grants if g.pk in naming}
    wanted_targets = {t.pk for ts in naming.values() for t in ts}
    assignments = {
        (a.user_id, a.target_id): a
        for a in ProvisionAssignment.objects.filter(
            user_id__in=wanted_users, target_id__in=wanted_targets
        )
    }
    ended = {g.pk for g in grants if g.pk in naming and _ended(g, now)}
    # Who still needs the targets of ended grants (another grant, a standing role).
    still = desired_targets_for_users({g.user_id for g in grants if g.pk in ended}, now)
    for grant in grants:
        if grant.pk not in naming:
            continue
        over = grant.pk in ended
        result = out[grant.pk]
        for target in naming[grant.pk]:
            found = assignments.get((grant.user_id, target.pk))
            if found is None:
                state, error, updated = ("removed" if over else "pending"), "", None
            else:
                state, error, updated = found.display_state, found.last_error, found.updated
            if over and target.pk in still.get(grant.user_id, ()):
                state = "kept"
            elif over and found is not None and found.desired:
                state = "revoking"  # the workers have not caught up with the end yet
            result.rows.append(
                {
                    "target": target.label,
                    "provisioner": target.provisioner,
                    "state": state,
                    "error": error,
                    "updated": updated,
                }
            )
        result.revoking = over and any(r["state"] == "revoking" for r in result.rows)
    return out


def grant_status(grant: Grant, provisioning: GrantProvisioning | None, now: datetime) -> str:
    """What every surface shows for a grant: "revoking" while an ended or revoked grant's
    targets have not all confirmed the removal, else `Grant.status_at` (revoked, active,
    ended, scheduled)."""
    if provisioning is not None and provisioning.revoking:
        return "revoking"
    return grant.status_at(now)
