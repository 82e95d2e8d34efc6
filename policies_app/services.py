"""Writing policies: applying a checked plan, and exporting what is stored as YAML.

`policies_apply` is the one way roles, users' standing roles and resources are set from
files (tests and demos included). It is idempotent: unchanged documents write nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from policies_app.documents import export_role_spec
from policies_app.loader import PolicyPlan
from policies_app.models import Resource, Role, UserTraits
from requests_app.services.audit import AuditEntry, audit_record_many
from requests_app.services.locking import retry_on_conflict
from requests_app.services.visibility import request_permissions_resync


@dataclass
class ApplySummary:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def lines(self) -> list[str]:
        out = [f"created {name}" for name in self.created]
        out += [f"updated {name}" for name in self.updated]
        out += [f"deleted {name}" for name in self.deleted]
        out.append(
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.deleted)} deleted, {len(self.unchanged)} unchanged"
        )
        return out


class _DryRun(Exception):
    pass


def _apply_roles(plan: PolicyPlan, summary: ApplySummary, audit: list[AuditEntry], actor) -> None:
    existing = {r.name: r for r in Role.objects.all()}
    for doc in plan.roles:
        label = f"role {doc['name']}"
        role = existing.get(doc["name"])
        if role is None:
            Role.objects.create(name=doc["name"], description=doc["description"], spec=doc["spec"])
            summary.created.append(label)
            audit.append(
                AuditEntry("role.created", "role", doc["name"], actor, {"spec": doc["spec"]})
            )
        elif role.spec != doc["spec"] or role.description != doc["description"]:
            before = role.spec
            role.spec, role.description = doc["spec"], doc["description"]
            role.save(update_fields=["spec", "description", "updated"])
            summary.updated.append(label)
            audit.append(
                AuditEntry(
                    "role.updated",
                    "role",
                    doc["name"],
                    actor,
                    {"before": before, "spec": doc["spec"]},
                )
            )
        else:
            summary.unchanged.append(label)


def _apply_users(plan: PolicyPlan, summary: ApplySummary, audit: list[AuditEntry], actor) -> None:
    User = get_user_model()
    roles = {r.name: r for r in Role.objects.all()}
    for doc in plan.users:
        label = f"user {doc['name']}"
        user, created = User.objects.get_or_create(
            **{User.USERNAME_FIELD: doc["name"]}, defaults={"email": doc["email"]}
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        current = set(user.standing_roles.values_list("name", flat=True))
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
        user.standing_roles.set([roles[name] for name in doc["roles"]])
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


@retry_on_conflict
def policies_apply(
    *,
    plan: PolicyPlan,
    actor: AbstractBaseUser | None = None,
    prune: bool = False,
    dry_run: bool = False,
) -> ApplySummary:
    """Apply a checked plan in one transaction, auditing each change.

    With `prune`, roles and resources absent from the plan are deleted (users never are).
    With `dry_run`, the summary is computed and everything rolled back.
    """
    summary = ApplySummary()
    try:
        with transaction.atomic():
            audit: list[AuditEntry] = []
            _apply_roles(plan, summary, audit, actor)
            _apply_users(plan, summary, audit, actor)
            _apply_resources(plan, summary, audit, actor)
            if prune:
                _prune(plan, summary, audit, actor)
            audit_record_many(audit)
            if summary.changed:
                # Who may see and review pending requests follows the new policies.
                request_permissions_resync()
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return summary


def policies_export() -> str:
    """Every role, every user with standing roles or traits, and every resource, as YAML."""
    User = get_user_model()
    docs: list[dict] = []
    for role in Role.objects.order_by("name"):
        doc: dict = {"kind": "role", "name": role.name}
        if role.description:
            doc["description"] = role.description
        doc["spec"] = export_role_spec(role.spec)
        docs.append(doc)
    traits = dict(UserTraits.objects.values_list("user_id", "traits"))
    for user in User.objects.order_by(User.USERNAME_FIELD).prefetch_related("standing_roles"):
        names = sorted(r.name for r in user.standing_roles.all())
        if not names and not traits.get(user.pk):
            continue
        doc = {"kind": "user", "name": user.get_username()}
        if user.email:
            doc["email"] = user.email
        doc["roles"] = names
        if traits.get(user.pk):
            doc["traits"] = traits[user.pk]
        docs.append(doc)
    for row in Resource.objects.order_by("kind", "name"):
        doc = {"kind": "resource", "id": row.resource_id}
        if row.description:
            doc["description"] = row.description
        doc["labels"] = row.labels
        docs.append(doc)
    return yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True, default_flow_style=False)
