"""Notification rules edited one at a time (admin), checked like a policy file, audited."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from accessportal.kernel.audit import AuditEntry, audit_record_many
from accessportal.kernel.errors import NotFound, ValidationFailed
from accessportal.kernel.locking import retry_on_conflict
from policies_app.documents import normalize_notification_rule
from policies_app.models import NotificationRule
from policies_app.services.apply import ApplySummary, save_notification_rule


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
    rule = save_notification_rule(rule, doc, ApplySummary(), audit, actor)
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
