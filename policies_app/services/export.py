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
from policies_app.models import (
    POLICY_SOURCE,
    AccessReview,
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
    mapping, on-call schedule and review rule, as YAML."""
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
    for user in User.objects.order_by(User.USERNAME_FIELD):
        names = sorted(policy_roles.get(user.pk, []))
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
        if provision := resource_provision_entries(row.resource_id):
            doc["provision"] = export_provision(provision)
        docs.append(doc)
    docs += _spec_docs("notification_rule", NotificationRule, export_notification_rule_spec)
    docs += _spec_docs("sso_mapping", SSOMapping, export_sso_mapping_spec)
    docs += _spec_docs("oncall_schedule", OncallSchedule, export_oncall_schedule_spec)
    docs += _spec_docs("review_rule", ReviewRule, export_review_rule_spec)
    docs += _spec_docs("access_review", AccessReview, export_access_review_spec)
    return yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True, default_flow_style=False)
