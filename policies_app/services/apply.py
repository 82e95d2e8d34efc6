"""Applying a checked policy plan: the one way roles, users' standing roles, resources and
notification rules are set from files (tests and demos included). It is idempotent:
unchanged documents write nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from accessportal.kernel.audit import AuditEntry, audit_record_many
from accessportal.kernel.locking import provisioning_lock_all, retry_on_conflict
from policies_app.documents.review_rules import rule_schedules
from policies_app.loader import PolicyFileError, PolicyPlan
from policies_app.models import (
    POLICY_SOURCE,
    AccessReview,
    MembershipHold,
    NotificationRule,
    OncallSchedule,
    Resource,
    ReviewRule,
    Role,
    RoleMembership,
    SSOMapping,
    UserTraits,
)
from policies_app.selectors import roles_from
from policies_app.services.directory import directory_mapping_resync
from policies_app.services.memberships import memberships_set
from policies_app.services.profiles import reviewer_profiles_sync
from policies_app.services.provision_targets import provision_targets_sync
from policies_app.signals import review_rules_changed


@dataclass
class ApplySummary:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    # Memberships the files name that an access review removed (MembershipHold): not added
    # back; each is a line of output and a `membership.drift` audit event.
    drift: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def lines(self) -> list[str]:
        out = [f"created {name}" for name in self.created]
        out += [f"updated {name}" for name in self.updated]
        out += [f"deleted {name}" for name in self.deleted]
        out += [f"drift {line}" for line in self.drift]
        out.append(
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.deleted)} deleted, {len(self.unchanged)} unchanged"
        )
        return out


class _DryRun(Exception):
    pass


def save_spec_row(
    model, kind: str, row, doc: dict, summary: ApplySummary, audit: list[AuditEntry], actor
):
    """Create `row` (None) or bring its description and spec up to `doc`, audited as
    `<kind>.created` / `<kind>.updated`; unchanged rows are only counted."""
    label = f"{kind} {doc['name']}"
    if row is None:
        row = model.objects.create(
            name=doc["name"], description=doc["description"], spec=doc["spec"]
        )
        summary.created.append(label)
        audit.append(AuditEntry(f"{kind}.created", kind, row.name, actor, {"spec": doc["spec"]}))
    elif row.spec != doc["spec"] or row.description != doc["description"]:
        before = row.spec
        row.spec, row.description = doc["spec"], doc["description"]
        row.save(update_fields=["spec", "description", "updated"])
        summary.updated.append(label)
        audit.append(
            AuditEntry(
                f"{kind}.updated", kind, row.name, actor, {"before": before, "spec": doc["spec"]}
            )
        )
    else:
        summary.unchanged.append(label)
    return row


def _apply_roles(plan: PolicyPlan, summary: ApplySummary, audit: list[AuditEntry], actor) -> None:
    existing = {r.name: r for r in Role.objects.all()}
    for doc in plan.roles:
        save_spec_row(Role, "role", existing.get(doc["name"]), doc, summary, audit, actor)


def _apply_users(plan: PolicyPlan, summary: ApplySummary, audit: list[AuditEntry], actor) -> None:
    User = get_user_model()
    for doc in plan.users:
        label = f"user {doc['name']}"
        user, created = User.objects.get_or_create(
            **{User.USERNAME_FIELD: doc["name"]}, defaults={"email": doc["email"]}
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        current = _policy_roles_locked(user)
        doc = {**doc, "roles": _without_held(user, doc, summary, audit, actor)}
        traits_row = UserTraits.objects.filter(user=user).first()
        traits = traits_row.traits if traits_row else {}
        changed = created or current != set(doc["roles"]) or traits != doc["traits"]
        if doc["email"] and user.email != doc["email"]:
            user.email = doc["email"]
            user.save(update_fields=["email"])
            changed = True
        if not changed:
            summary.unchanged.append(label)
            continue
        memberships_set(user, doc["roles"], source=POLICY_SOURCE, notify=False)
        UserTraits.objects.update_or_create(user=user, defaults={"traits": doc["traits"]})
        (summary.created if created else summary.updated).append(label)
        audit.append(
            AuditEntry(
                "user.policy_set",
                "user",
                doc["name"],
                actor,
                {"roles": sorted(doc["roles"]), "before": sorted(current), "traits": doc["traits"]},
            )
        )


def _policy_roles_locked(user) -> set[str]:
    """The roles the policy gives `user`, their membership rows locked (the order
    `memberships_set` takes them) before the holds are read: a concurrent
    `membership_remove` either commits first (its hold is then read) or waits for this
    apply, so a review's removal is never re-added by an apply that read no hold."""
    locked = RoleMembership.objects.select_for_update().filter(user=user).order_by("pk")
    list(locked.values_list("pk", flat=True))
    return roles_from(user, POLICY_SOURCE)


def _without_held(user, doc: dict, summary: ApplySummary, audit: list[AuditEntry], actor):
    """The roles of a user document minus those an access review removed (each reported as
    drift); holds on roles the document no longer names are over (deleted)."""
    holds = {
        h.role.name: h for h in MembershipHold.objects.filter(user=user).select_related("role")
    }
    if not holds:
        return doc["roles"]
    for name, hold in holds.items():
        if name not in doc["roles"]:
            hold.delete()
            audit.append(
                AuditEntry(
                    "membership.hold_ended",
                    "user",
                    doc["name"],
                    actor,
                    {"role": name, "removed_by": hold.removed_by, "why": "files stopped naming it"},
                )
            )
            continue
        summary.drift.append(
            f"user {doc['name']}: role {name} was removed by {hold.removed_by}; not added "
            "back (remove it from the file; to restore it, another administrator releases "
            "the hold in the admin, with a reason)"
        )
        audit.append(
            AuditEntry(
                "membership.drift",
                "user",
                doc["name"],
                actor,
                {"role": name, "removed_by": hold.removed_by, "reason": hold.reason},
            )
        )
    return [r for r in doc["roles"] if r not in holds]


def _apply_resources(
    plan: PolicyPlan, summary: ApplySummary, audit: list[AuditEntry], actor
) -> None:
    existing = {(r.kind, r.name): r for r in Resource.objects.all()}
    for doc in plan.resources:
        rid = f"{doc['kind']}/{doc['name']}"
        label = f"resource {rid}"
        row = existing.get((doc["kind"], doc["name"]))
        if row is None:
            Resource.objects.create(
                kind=doc["kind"],
                name=doc["name"],
                labels=doc["labels"],
                description=doc["description"],
            )
            summary.created.append(label)
            audit.append(
                AuditEntry("resource.created", "resource", rid, actor, {"labels": doc["labels"]})
            )
        elif row.labels != doc["labels"] or row.description != doc["description"]:
            before = row.labels
            row.labels, row.description = doc["labels"], doc["description"]
            row.save(update_fields=["labels", "description", "updated"])
            summary.updated.append(label)
            audit.append(
                AuditEntry(
                    "resource.updated",
                    "resource",
                    rid,
                    actor,
                    {"before": before, "labels": doc["labels"]},
                )
            )
        else:
            summary.unchanged.append(label)


def _apply_notification_rules(
    plan: PolicyPlan, summary: ApplySummary, audit: list[AuditEntry], actor
) -> None:
    existing = {r.name: r for r in NotificationRule.objects.all()}
    for doc in plan.notification_rules:
        save_notification_rule(existing.get(doc["name"]), doc, summary, audit, actor)


def save_notification_rule(
    rule: NotificationRule | None,
    doc: dict,
    summary: ApplySummary,
    audit: list[AuditEntry],
    actor,
) -> NotificationRule:
    return save_spec_row(NotificationRule, "notification_rule", rule, doc, summary, audit, actor)


def _apply_sso_mappings(
    plan: PolicyPlan, summary: ApplySummary, audit: list[AuditEntry], actor
) -> None:
    existing = {m.name: m for m in SSOMapping.objects.all()}
    for doc in plan.sso_mappings:
        save_spec_row(
            SSOMapping, "sso_mapping", existing.get(doc["name"]), doc, summary, audit, actor
        )


def _apply_review_rules(
    plan: PolicyPlan, summary: ApplySummary, audit: list[AuditEntry], actor
) -> None:
    """On-call schedules, then the review rules that name them."""
    stored = {s.name: s for s in OncallSchedule.objects.all()}
    for doc in plan.oncall_schedules:
        save_spec_row(
            OncallSchedule, "oncall_schedule", stored.get(doc["name"]), doc, summary, audit, actor
        )
    rules = {r.name: r for r in ReviewRule.objects.all()}
    for doc in plan.review_rules:
        save_spec_row(ReviewRule, "review_rule", rules.get(doc["name"]), doc, summary, audit, actor)
    reviews = {r.name: r for r in AccessReview.objects.all()}
    for doc in plan.access_reviews:
        save_spec_row(
            AccessReview, "access_review", reviews.get(doc["name"]), doc, summary, audit, actor
        )


def _prune_named(model, kind: str, keep: set[str], summary: ApplySummary, audit, actor) -> None:
    for row in model.objects.exclude(name__in=keep):
        summary.deleted.append(f"{kind} {row.name}")
        audit.append(AuditEntry(f"{kind}.deleted", kind, row.name, actor, {"spec": row.spec}))
        row.delete()


def prune_problems(plan: PolicyPlan) -> list[str]:
    """What `--prune` must not do: delete an on-call schedule that a rule it keeps (every
    rule it keeps is in the plan) still names; the rule would silently never fire."""
    in_plan = {d["name"] for d in plan.oncall_schedules}
    return [
        f"{rule['_where']}: spec.when: oncall({name!r}): the oncall_schedule {name!r} is not "
        "in the files, so --prune would delete it; add it to the files"
        for rule in plan.review_rules
        for name in rule_schedules(rule["spec"]["when"])
        if name not in in_plan
    ]


def _prune(plan: PolicyPlan, summary: ApplySummary, audit: list[AuditEntry], actor) -> None:
    keep_roles = {d["name"] for d in plan.roles}
    for role in Role.objects.exclude(name__in=keep_roles):
        summary.deleted.append(f"role {role.name}")
        audit.append(AuditEntry("role.deleted", "role", role.name, actor, {"spec": role.spec}))
        role.delete()
    keep_resources = {(d["kind"], d["name"]) for d in plan.resources}
    for row in Resource.objects.all():
        if (row.kind, row.name) not in keep_resources:
            summary.deleted.append(f"resource {row.resource_id}")
            audit.append(
                AuditEntry(
                    "resource.deleted", "resource", row.resource_id, actor, {"labels": row.labels}
                )
            )
            row.delete()
    keep_rules = {d["name"] for d in plan.notification_rules}
    for rule in NotificationRule.objects.exclude(name__in=keep_rules):
        summary.deleted.append(f"notification_rule {rule.name}")
        audit.append(
            AuditEntry(
                "notification_rule.deleted",
                "notification_rule",
                rule.name,
                actor,
                {"spec": rule.spec},
            )
        )
        rule.delete()
    keep_mappings = {d["name"] for d in plan.sso_mappings}
    for mapping in SSOMapping.objects.exclude(name__in=keep_mappings):
        summary.deleted.append(f"sso_mapping {mapping.name}")
        audit.append(
            AuditEntry(
                "sso_mapping.deleted", "sso_mapping", mapping.name, actor, {"spec": mapping.spec}
            )
        )
        mapping.delete()
    # Rules before the schedules they name.
    keep = {d["name"] for d in plan.review_rules}
    _prune_named(ReviewRule, "review_rule", keep, summary, audit, actor)
    keep = {d["name"] for d in plan.oncall_schedules}
    _prune_named(OncallSchedule, "oncall_schedule", keep, summary, audit, actor)
    keep = {d["name"] for d in plan.access_reviews}
    _prune_named(AccessReview, "access_review", keep, summary, audit, actor)


def _apply_provision_targets(
    plan: PolicyPlan, summary: ApplySummary, audit: list[AuditEntry], actor
) -> None:
    """Targets follow the stored roles and the resources (those in the plan as written,
    the others as stored); the request layer resyncs members on `review_rules_changed`."""
    entries = {f"{d['kind']}/{d['name']}": d.get("provision", []) for d in plan.resources}
    changes, entries_audit = provision_targets_sync(resource_entries=entries, actor=actor)
    for what, label in changes:
        getattr(summary, what).append(label)
    audit += entries_audit


def _mappings_changed(summary: ApplySummary) -> set[str]:
    """Providers whose sso_mapping this apply created, changed or deleted."""
    labels = summary.created + summary.updated + summary.deleted
    return {label.split(" ", 1)[1] for label in labels if label.startswith("sso_mapping ")}


def _profile_scope(summary: ApplySummary) -> list[int] | None:
    """Whose reviewer profile may have changed: everyone's when a role changed (it may
    start or stop reviewing), else only the users whose documents changed."""
    labels = [*summary.created, *summary.updated, *summary.deleted]
    if any(label.startswith("role ") for label in labels):
        return None
    names = [label.split(" ", 1)[1] for label in labels if label.startswith("user ")]
    User = get_user_model()
    return list(
        User.objects.filter(**{f"{User.USERNAME_FIELD}__in": names}).values_list("pk", flat=True)
    )


@retry_on_conflict
def policies_apply(
    *,
    plan: PolicyPlan,
    actor: AbstractBaseUser | None = None,
    prune: bool = False,
    dry_run: bool = False,
) -> ApplySummary:
    """Apply a checked plan in one transaction, auditing each change.

    With `prune`, roles and resources absent from the plan are deleted (users never are);
    PolicyFileError when that would delete a schedule a kept rule names (`prune_problems`).
    With `dry_run`, the summary is computed and everything rolled back.
    """
    if prune and (problems := prune_problems(plan)):
        raise PolicyFileError(problems)
    summary = ApplySummary()
    try:
        with transaction.atomic():
            audit: list[AuditEntry] = []
            _apply_roles(plan, summary, audit, actor)
            _apply_users(plan, summary, audit, actor)
            _apply_resources(plan, summary, audit, actor)
            _apply_notification_rules(plan, summary, audit, actor)
            _apply_sso_mappings(plan, summary, audit, actor)
            _apply_review_rules(plan, summary, audit, actor)
            if prune:
                _prune(plan, summary, audit, actor)
            _apply_provision_targets(plan, summary, audit, actor)
            if summary.changed:
                # The request layer resyncs every provisioning target below (exclusive
                # lock); directory_mapping_resync syncs users first (shared side and user
                # locks). Exclusive first: upgrading later deadlocks with an approval.
                provisioning_lock_all()
            audit += directory_mapping_resync(_mappings_changed(summary))
            if summary.changed:
                # Who may see and review pending requests follows the new policies, from
                # the moment they commit. Before the audit append: it takes the chain head
                # (the one global lock), and every write in the system waits for it.
                # Profiles first (who reviews alike), then their rows on pending requests.
                reviewer_profiles_sync(user_ids=_profile_scope(summary))
                review_rules_changed.send(sender=Role)
            audit_record_many(audit)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return summary
