"""Exporting what is stored as policy YAML (the inverse of `apply`)."""

from __future__ import annotations

import yaml
from django.contrib.auth import get_user_model

from policies_app.documents import (
    export_access_review_spec,
    export_notification_rule_spec,
    export_oncall_schedule_spec,
    export_review_rule_spec,
    export_role_spec,
    export_sso_mapping_spec,
)
from policies_app.documents.provision import export_provision
from policies_app.loader import PolicyPlan
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
from policies_app.services.provision_targets import resource_provision_entries

# The kinds stored as name, description and spec, in export order: the one list export,
# proposals and their diffs read.
_NAMED_KINDS = (
    ("notification_rule", NotificationRule, export_notification_rule_spec),
    ("sso_mapping", SSOMapping, export_sso_mapping_spec),
    ("oncall_schedule", OncallSchedule, export_oncall_schedule_spec),
    ("review_rule", ReviewRule, export_review_rule_spec),
    ("access_review", AccessReview, export_access_review_spec),
)


def _spec_docs(kind: str, model, export_spec) -> list[dict]:
    """The documents of a named kind stored as name, description and spec."""
    docs = []
    for row in model.objects.order_by("name"):
        doc: dict = {"kind": kind, "name": row.name}
        if row.description:
            doc["description"] = row.description
        doc["spec"] = export_spec(row.spec)
        docs.append(doc)
    return docs


def policies_export() -> str:
    """Every role, user with standing roles or traits, resource, notification rule, SSO
    mapping, on-call schedule, review rule and access review, as YAML."""
    docs = policies_export_documents()
    return yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True, default_flow_style=False)


def policies_export_documents(*, users: frozenset[str] = frozenset()) -> list[dict]:
    """What `policies_export` writes, as documents (the canonical form diffs compare);
    `users` are also given when they hold no policy role and no traits (a diff's "before")."""
    User = get_user_model()
    docs: list[dict] = []
    for role in Role.objects.order_by("name"):
        doc: dict = {"kind": "role", "name": role.name}
        if role.description:
            doc["description"] = role.description
        doc["spec"] = export_role_spec(role.spec)
        docs.append(doc)
    traits = dict(UserTraits.objects.values_list("user_id", "traits"))
    # The roles the policy gives; those an identity provider gives are its own to export.
    policy_roles: dict[int, list[str]] = {}
    for uid, name, sources in RoleMembership.objects.values_list(
        "user_id", "role__name", "sources"
    ):
        if POLICY_SOURCE in sources:
            policy_roles.setdefault(uid, []).append(name)
    # A role an access review holds away is still named by the files (`policy_roles_named`):
    # exported, so a diff against the files is not a re-grant and applying it keeps the hold.
    for uid, name in MembershipHold.objects.values_list("user_id", "role__name"):
        policy_roles.setdefault(uid, []).append(name)
    for user in User.objects.order_by(User.USERNAME_FIELD):
        names = sorted(set(policy_roles.get(user.pk, [])))
        if not names and not traits.get(user.pk) and user.get_username() not in users:
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
        if provision := resource_provision_entries(row.resource_id):
            doc["provision"] = export_provision(provision)
        docs.append(doc)
    for kind, model, export in _NAMED_KINDS:
        docs += _spec_docs(kind, model, export)
    return docs


_SPEC_EXPORTS = {"role": export_role_spec} | {kind: export for kind, _, export in _NAMED_KINDS}
# The plan's lists, in the order `policies_apply` writes them; every PolicyPlan field
# (tests/policies_app/test_proposals_kinds.py holds the two together).
PLAN_KINDS = (
    ("role", "roles"),
    ("user", "users"),
    ("resource", "resources"),
    ("notification_rule", "notification_rules"),
    ("sso_mapping", "sso_mappings"),
    ("oncall_schedule", "oncall_schedules"),
    ("review_rule", "review_rules"),
    ("access_review", "access_reviews"),
)


def document_label(doc: dict) -> str:
    """`role ops`, `user alice`, `resource node/db-1`: how diffs and summaries name a document."""
    return f"{doc['kind']} {doc['id'] if doc['kind'] == 'resource' else doc['name']}"


def plan_documents(plan: PolicyPlan) -> list[dict]:
    """The plan's documents in the form `policies_export_documents` gives once applied.

    A user document without an email keeps the stored one (`policies_apply` leaves it)."""
    User = get_user_model()
    names = [d["name"] for d in plan.users]
    emails = dict(
        User.objects.filter(**{f"{User.USERNAME_FIELD}__in": names}).values_list(
            User.USERNAME_FIELD, "email"
        )
    )
    docs: list[dict] = []
    for kind, attr in PLAN_KINDS:
        for d in getattr(plan, attr):
            if kind == "user":
                doc = {"kind": "user", "name": d["name"]}
                if email := d["email"] or emails.get(d["name"]):
                    doc["email"] = email
                doc["roles"] = sorted(d["roles"])
                if d["traits"]:
                    doc["traits"] = d["traits"]
            elif kind == "resource":
                doc = {"kind": "resource", "id": f"{d['kind']}/{d['name']}"}
                if d["description"]:
                    doc["description"] = d["description"]
                doc["labels"] = d["labels"]
                if d.get("provision"):
                    doc["provision"] = export_provision(d["provision"])
            else:
                doc = {"kind": kind, "name": d["name"]}
                if d.get("description"):
                    doc["description"] = d["description"]
                doc["spec"] = _SPEC_EXPORTS[kind](d["spec"])
            docs.append(doc)
    return docs
