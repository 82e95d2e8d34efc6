"""Standing role memberships, each owned by the sources that give it.

A user may hold a role because the policy says so ("policy": policy files and the admin),
because their last sign-in through a provider carried a mapped claim ("sso:<provider>"), or
because a provider pushed a group membership ("scim:<provider>"). Each source sets only its
own part: a sign-in cannot take away a role the policy files give, and `apply_policies`
cannot take away one the provider gives. The user holds a role while any source gives it.

Callers run inside their own transaction, audit the change (the returned `RolesChange`) and
append their audit entries last; who may review pending requests follows at once
(`policies_app.signals.review_rules_changed`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from accessportal.kernel.audit import audit_record
from accessportal.kernel.errors import NotAllowed, NotFound, ReasonRequired, SelfReviewRefused
from policies_app.models import POLICY_SOURCE, MembershipHold, Role, RoleMembership
from policies_app.signals import review_rules_changed


@dataclass
class RolesChange:
    """What one source's update did to a user's standing roles."""

    source: str
    before: list[str] = field(default_factory=list)  # roles this source gave before
    after: list[str] = field(default_factory=list)  # roles this source gives now
    gained: list[str] = field(default_factory=list)  # roles the user did not hold at all
    lost: list[str] = field(default_factory=list)  # roles no source gives any more

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def audit_data(self) -> dict:
        return {
            "source": self.source,
            "roles": self.after,
            "before": self.before,
            "gained": self.gained,
            "lost": self.lost,
        }


def memberships_set(
    user: AbstractBaseUser, roles: Iterable[str], *, source: str, notify: bool = True
) -> RolesChange:
    """Make `source` give `user` exactly `roles` (names of existing roles), keeping what other
    sources give. Locks the user's membership rows. `notify=False`: the caller sends
    `review_rules_changed` itself once for many users (a policy apply)."""
    wanted = sorted(set(roles))
    by_name = {r.name: r for r in Role.objects.filter(name__in=wanted)}
    missing = sorted(set(wanted) - set(by_name))
    if missing:
        raise ValueError(f"no role named {', '.join(missing)}")
    rows = {
        m.role.name: m
        for m in RoleMembership.objects.select_for_update()
        .filter(user=user)
        .select_related("role")
        .order_by("pk")
    }
    change = RolesChange(
        source=source,
        before=sorted(name for name, m in rows.items() if source in m.sources),
        after=wanted,
    )
    for name in sorted(set(rows) | set(wanted)):
        row = rows.get(name)
        if row is None:
            RoleMembership.objects.create(role=by_name[name], user=user, sources=[source])
            change.gained.append(name)
            continue
        sources = set(row.sources)
        sources = sources | {source} if name in wanted else sources - {source}
        if sources == set(row.sources):
            continue
        if sources:
            row.sources = sorted(sources)
            row.save(update_fields=["sources"])
        else:
            row.delete()
            change.lost.append(name)
    if notify and (change.gained or change.lost):
        review_rules_changed.send(sender=Role, user_ids=[user.pk])
    return change


# Sources that give a role back on their own: the next sign-in or directory push.
def returning_sources(sources: Iterable[str]) -> list[str]:
    """The sources (sso:/scim:) that will give a removed membership back unless the identity
    provider stops saying so; "policy" does not (a hold stops apply_policies)."""
    return sorted(s for s in sources if s != POLICY_SOURCE)


@transaction.atomic
def membership_remove(
    *, user: AbstractBaseUser, role_name: str, actor, reason: str, removed_by: str
) -> list[str]:
    """Take `role_name` away from `user` whatever sources give it, audited
    (`membership.removed`); returns the sources it had ([] when the user no longer held it:
    nothing written). A policy-file membership gets a MembershipHold so `apply_policies`
    reports it as drift instead of adding it back; sso:/scim: sources may give it back on
    the next sign-in or push (the caller tells people: `returning_sources`). Who may review
    and provisioning follow at once (`review_rules_changed` with the user)."""
    row = (
        RoleMembership.objects.select_for_update()
        .filter(user=user, role__name=role_name)
        .select_related("role")
        .first()
    )
    if row is None:
        return []
    sources = sorted(row.sources)
    role = row.role
    row.delete()
    if POLICY_SOURCE in sources:
        MembershipHold.objects.update_or_create(
            user=user, role=role, defaults={"reason": reason, "removed_by": removed_by}
        )
    review_rules_changed.send(sender=Role, user_ids=[user.pk])  # before the audit append
    audit_record(
        action="membership.removed",
        target_type="user",
        target_id=user.get_username(),
        actor=actor,
        data={
            "role": role_name,
            "sources": sources,
            "returns_from": returning_sources(sources),
            "reason": reason,
            "removed_by": removed_by,
        },
    )
    return sources


RELEASE_HOLDS = "policies_app.delete_membershiphold"


@transaction.atomic
def membership_hold_release(*, hold_id: int, actor: AbstractBaseUser, reason: str) -> None:
    """End a hold by hand, so the next `apply_policies` gives the role back if the files
    still name it: for holders of `policies_app.delete_membershiphold`, with a reason,
    never on one's own hold (superusers included: a review's removal is undone by someone
    else), audited (`membership.hold_released`, with what removed it). Row lock: two
    releases of one hold write one event."""
    if not actor.is_active or not actor.has_perm(RELEASE_HOLDS):
        raise NotAllowed("you may not release membership holds")
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired("give a reason for releasing the hold", field="reason")
    hold = (
        MembershipHold.objects.select_for_update()
        .select_related("user", "role")
        .filter(pk=hold_id)
        .first()
    )
    if hold is None:
        raise NotFound("no such membership hold")
    if hold.user_id == actor.pk:
        raise SelfReviewRefused("nobody releases a hold on their own membership")
    hold.delete()
    audit_record(
        action="membership.hold_released",
        target_type="user",
        target_id=hold.user.get_username(),
        actor=actor,
        data={"role": hold.role.name, "removed_by": hold.removed_by, "reason": reason},
    )
