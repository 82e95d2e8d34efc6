"""Writing policies: applying a checked plan, and exporting what is stored as YAML.

`policies_apply` is the one way roles, users' standing roles and resources are set from
files (tests and demos included). It is idempotent: unchanged documents write nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import yaml
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Permission
from django.db import transaction

from policies_app.documents import (
    Problem,
    export_notification_rule_spec,
    export_role_spec,
    normalize_notification_rule,
    normalize_resource,
    normalize_role,
)
from policies_app.loader import PolicyFileError, PolicyPlan
from policies_app.models import NotificationRule, Resource, Role, UserTraits
from requests_app.errors import NotFound, ValidationFailed
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


def _save_spec_row(
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
        _save_spec_row(Role, "role", existing.get(doc["name"]), doc, summary, audit, actor)


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


def _apply_notification_rules(
    plan: PolicyPlan, summary: ApplySummary, audit: list[AuditEntry], actor
) -> None:
    existing = {r.name: r for r in NotificationRule.objects.all()}
    for doc in plan.notification_rules:
        _save_notification_rule(existing.get(doc["name"]), doc, summary, audit, actor)


def _save_notification_rule(
    rule: NotificationRule | None,
    doc: dict,
    summary: ApplySummary,
    audit: list[AuditEntry],
    actor,
) -> NotificationRule:
    return _save_spec_row(NotificationRule, "notification_rule", rule, doc, summary, audit, actor)


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
            _apply_notification_rules(plan, summary, audit, actor)
            if prune:
                _prune(plan, summary, audit, actor)
            if summary.changed:
                # Who may see and review pending requests follows the new policies, from
                # the moment they commit. Before the audit append: it takes the chain head
                # (the one global lock), and every write in the system waits for it.
                request_permissions_resync()
            audit_record_many(audit)
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
    for rule in NotificationRule.objects.order_by("name"):
        doc = {"kind": "notification_rule", "name": rule.name}
        if rule.description:
            doc["description"] = rule.description
        doc["spec"] = export_notification_rule_spec(rule.spec)
        docs.append(doc)
    return yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True, default_flow_style=False)


@retry_on_conflict
@transaction.atomic
def notification_rule_save(
    *,
    name: str,
    description: str = "",
    spec: dict,
    actor: AbstractBaseUser | None = None,
    rule_id: int | None = None,
) -> NotificationRule:
    """Create or change one notification rule (admin), checked like a policy file, audited.

    `rule_id` names the rule being edited (its name may change); raises ValidationFailed
    listing every problem, NotFound for an unknown `rule_id`.
    """
    doc, problems = normalize_notification_rule(
        {"kind": "notification_rule", "name": name, "description": description, "spec": spec}
    )
    if problems:
        raise ValidationFailed("; ".join(str(p) for p in problems), field="spec")
    rule = None
    if rule_id is not None:
        rule = NotificationRule.objects.select_for_update().filter(pk=rule_id).first()
        if rule is None:
            raise NotFound("no such notification rule")
    clash = NotificationRule.objects.filter(name=doc["name"]).exclude(pk=rule_id).exists()
    if clash:
        raise ValidationFailed(
            f"a notification rule named {doc['name']!r} already exists", field="name"
        )
    audit: list[AuditEntry] = []
    if rule is not None and rule.name != doc["name"]:
        audit.append(
            AuditEntry(
                "notification_rule.renamed",
                "notification_rule",
                doc["name"],
                actor,
                {"before": rule.name},
            )
        )
        rule.name = doc["name"]
        rule.save(update_fields=["name", "updated"])
    rule = _save_notification_rule(rule, doc, ApplySummary(), audit, actor)
    audit_record_many(audit)
    return rule


@retry_on_conflict
@transaction.atomic
def notification_rule_delete(*, rule_id: int, actor: AbstractBaseUser | None = None) -> None:
    """Delete one notification rule (admin), audited. Queued deliveries are not affected."""
    rule = NotificationRule.objects.select_for_update().filter(pk=rule_id).first()
    if rule is None:
        raise NotFound("no such notification rule")
    entry = AuditEntry(
        "notification_rule.deleted", "notification_rule", rule.name, actor, {"spec": rule.spec}
    )
    rule.delete()
    audit_record_many([entry])  # last: it takes the chain head


# -- single documents, as Django admin edits them -------------------------------------------
# Each goes through the loader's own path (normalizers, `policies_apply`): the same checks,
# the same audit events and the same resync of who may review pending requests.


def _permission_problems(spec: dict) -> list[Problem]:
    existing = {
        f"{app}.{code}"
        for app, code in Permission.objects.values_list("content_type__app_label", "codename")
    }
    return [
        Problem(f"spec.allow.permissions[{i}]", f"no Django permission {perm!r}")
        for i, perm in enumerate(spec["allow"]["permissions"])
        if perm not in existing
    ]


def role_document_check(doc: dict) -> tuple[dict, list[Problem]]:
    """Normalize one `kind: role` document as the loader does, permissions included."""
    normalized, problems = normalize_role(doc)
    if not problems:
        problems = _permission_problems(normalized["spec"])
    return normalized, problems


def resource_document_check(doc: dict) -> tuple[dict, list[Problem]]:
    """Normalize one `kind: resource` document as the loader does."""
    return normalize_resource(doc)


def _refuse(kind: str, problems: list[Problem]) -> None:
    if problems:
        raise PolicyFileError([f"{kind}: {p}" for p in problems])


@retry_on_conflict
def role_save(
    *,
    doc: dict,
    actor: AbstractBaseUser | None,
    members: Iterable[AbstractBaseUser] | None = None,
) -> Role:
    """Create or update one role from its document; with `members`, set who holds it.

    Membership changes are applied as the users' documents (their other roles and traits
    kept), so they are audited as `user.policy_set` like a policy file would be.
    Raises PolicyFileError when the document is invalid; nothing is written then.
    """
    normalized, problems = role_document_check(doc)
    _refuse(f"role {normalized['name']}", problems)
    label = f"admin (role {normalized['name']})"
    plan = PolicyPlan(roles=[{**normalized, "_where": label}])
    if members is not None:
        plan.users = _membership_docs(normalized["name"], {u.pk for u in members})
    with transaction.atomic():
        policies_apply(plan=plan, actor=actor)
        return Role.objects.get(name=normalized["name"])


def _membership_docs(role_name: str, wanted_ids: set[int]) -> list[dict]:
    User = get_user_model()
    current_ids = set(
        Role.members.through.objects.filter(role__name=role_name).values_list("user_id", flat=True)
    )
    changed = current_ids ^ wanted_ids
    traits = dict(UserTraits.objects.filter(user_id__in=changed).values_list("user_id", "traits"))
    docs = []
    for user in User.objects.filter(pk__in=changed).prefetch_related("standing_roles"):
        roles = {r.name for r in user.standing_roles.all()} - {role_name}
        if user.pk in wanted_ids:
            roles.add(role_name)
        docs.append(
            {
                "name": user.get_username(),
                "email": "",
                "roles": sorted(roles),
                "traits": traits.get(user.pk) or {},
                "_where": f"admin (user {user.get_username()})",
            }
        )
    return docs


@retry_on_conflict
@transaction.atomic
def role_delete(*, name: str, actor: AbstractBaseUser | None) -> None:
    """Delete one role (as `apply_policies --prune` would), audited; reviewers resynced."""
    role = Role.objects.select_for_update().filter(name=name).first()
    if role is None:
        return
    members = sorted(role.members.values_list(get_user_model().USERNAME_FIELD, flat=True))
    entry = AuditEntry("role.deleted", "role", name, actor, {"spec": role.spec, "members": members})
    role.delete()
    request_permissions_resync()  # before the audit append, which takes the chain head
    audit_record_many([entry])


@retry_on_conflict
def resource_save(*, doc: dict, actor: AbstractBaseUser | None) -> Resource:
    """Create or update one resource from its document (`id`, `labels`, `description`)."""
    normalized, problems = resource_document_check(doc)
    _refuse(f"resource {doc.get('id')}", problems)
    rid = f"{normalized['kind']}/{normalized['name']}"
    plan = PolicyPlan(resources=[{**normalized, "_where": f"admin (resource {rid})"}])
    with transaction.atomic():
        policies_apply(plan=plan, actor=actor)
        return Resource.objects.get(kind=normalized["kind"], name=normalized["name"])


@retry_on_conflict
@transaction.atomic
def resource_delete(*, kind: str, name: str, actor: AbstractBaseUser | None) -> None:
    """Delete one resource (as `apply_policies --prune` would), audited."""
    row = Resource.objects.select_for_update().filter(kind=kind, name=name).first()
    if row is None:
        return
    labels = {"labels": row.labels}
    entry = AuditEntry("resource.deleted", "resource", row.resource_id, actor, labels)
    row.delete()
    audit_record_many([entry])  # last: it takes the chain head
