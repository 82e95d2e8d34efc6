"""Roles and resources edited one document at a time, as Django admin does.

Each goes through the loader's own path (normalizers, `policies_apply`): the same checks,
the same audit events and the same resync of who may review pending requests.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Permission
from django.db import transaction

from accessportal.kernel.audit import AuditEntry, audit_record_many
from accessportal.kernel.locking import retry_on_conflict
from policies_app.documents import (
    Problem,
    export_role_spec,
    normalize_resource,
    normalize_role,
)
from policies_app.loader import PolicyFileError, PolicyPlan
from policies_app.models import POLICY_SOURCE, Resource, Role, UserTraits
from policies_app.selectors import members_from, policy_roles_named
from policies_app.services.apply import policies_apply
from policies_app.services.profiles import reviewer_profiles_sync
from policies_app.services.provision_targets import (
    provision_targets_sync,
    resource_provision_entries,
)
from policies_app.signals import review_rules_changed


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

    `members` are the users the policy gives the role (source "policy"; what an identity
    provider gives is left alone). Membership changes are applied as the users' documents
    (their other roles and traits kept), so they are audited as `user.policy_set` like a
    policy file would be.
    Raises PolicyFileError when the document is invalid; nothing is written then.
    """
    plan = role_plan(doc=doc, members=members)
    with transaction.atomic():
        policies_apply(plan=plan, actor=actor)
        return Role.objects.get(name=plan.roles[0]["name"])


def role_plan(*, doc: dict, members: Iterable[AbstractBaseUser] | None = None) -> PolicyPlan:
    """The plan `role_save` applies (or the admin proposes, under the two-person rule):
    the role's document, and the documents of users whose membership changes."""
    doc = _keep_stored_request_options(_keep_stored_role_provision(doc))
    normalized, problems = role_document_check(doc)
    _refuse(f"role {normalized['name']}", problems)
    label = f"admin (role {normalized['name']})"
    plan = PolicyPlan(roles=[{**normalized, "_where": label}])
    if members is not None:
        plan.users = _membership_docs(normalized["name"], {u.pk for u in members})
    return plan


def _keep_stored_role_provision(doc: dict) -> dict:
    """A document without `spec.provision` (the admin form has no such field) keeps the
    targets the stored role names."""
    spec = doc.get("spec") if isinstance(doc, dict) else None
    if not isinstance(spec, dict) or "provision" in spec:
        return doc
    stored = Role.objects.filter(name=doc.get("name")).values_list("spec", flat=True).first()
    if not stored or not stored.get("provision"):
        return doc
    return {**doc, "spec": {**spec, "provision": stored["provision"]}}


# `allow.request` options the admin form has no field for: a document without them keeps
# the stored role's (as `provision` is kept), so saving a role elsewhere never drops them.
_FORMLESS_REQUEST_OPTIONS = ("reminders", "break_glass")


def _keep_stored_request_options(doc: dict) -> dict:
    """A document whose `spec.allow.request` lacks reminder tiers or break-glass keeps those
    the stored role has (in their exported, document form)."""
    spec = doc.get("spec") if isinstance(doc, dict) else None
    allow = spec.get("allow") if isinstance(spec, dict) else None
    request = allow.get("request") if isinstance(allow, dict) else None
    if not isinstance(request, dict):
        return doc
    missing = [key for key in _FORMLESS_REQUEST_OPTIONS if key not in request]
    stored = Role.objects.filter(name=doc.get("name")).values_list("spec", flat=True).first()
    if not missing or not stored:
        return doc
    exported = export_role_spec(stored).get("allow", {}).get("request", {})
    kept = {key: exported[key] for key in missing if key in exported}
    if not kept:
        return doc
    request = {**request, **kept}
    return {**doc, "spec": {**spec, "allow": {**allow, "request": request}}}


def _provision_targets_resync(actor) -> list[AuditEntry]:
    """After a role or resource is deleted: targets no document names any more retire, and
    the request layer revokes their members."""
    changes, audit = provision_targets_sync(resource_entries={}, actor=actor)
    if changes:
        review_rules_changed.send(sender=Role)
    return audit


def _membership_docs(role_name: str, wanted_ids: set[int]) -> list[dict]:
    User = get_user_model()
    role = Role.objects.filter(name=role_name).first()
    current_ids = set(members_from(role, POLICY_SOURCE)) if role else set()
    changed = current_ids ^ wanted_ids
    traits = dict(UserTraits.objects.filter(user_id__in=changed).values_list("user_id", "traits"))
    docs = []
    for user in User.objects.filter(pk__in=changed):
        roles = policy_roles_named(user) - {role_name}  # held roles too: the hold stays
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
    reviewer_profiles_sync()  # its holders may now review differently, or nothing
    _, provision_audit = provision_targets_sync(resource_entries={}, actor=actor)
    review_rules_changed.send(sender=Role)  # before the audit append, which takes the head
    audit_record_many([entry, *provision_audit])


@retry_on_conflict
def resource_save(*, doc: dict, actor: AbstractBaseUser | None) -> Resource:
    """Create or update one resource from its document (`id`, `labels`, `description`)."""
    plan = resource_plan(doc=doc)
    normalized = plan.resources[0]
    with transaction.atomic():
        policies_apply(plan=plan, actor=actor)
        return Resource.objects.get(kind=normalized["kind"], name=normalized["name"])


def resource_plan(*, doc: dict) -> PolicyPlan:
    """The plan `resource_save` applies (or the admin proposes): one resource document,
    keeping the stored provision targets when the document names none."""
    if isinstance(doc, dict) and "provision" not in doc:
        doc = {**doc, "provision": resource_provision_entries(str(doc.get("id")))}
    normalized, problems = resource_document_check(doc)
    _refuse(f"resource {doc.get('id')}", problems)
    rid = f"{normalized['kind']}/{normalized['name']}"
    return PolicyPlan(resources=[{**normalized, "_where": f"admin (resource {rid})"}])


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
    audit_record_many([entry, *_provision_targets_resync(actor)])  # last: takes the head
