"""Review rules and on-call schedules edited one at a time (admin), checked like a policy
file (a rule's `oncall()` schedules must exist; a schedule a rule names cannot be deleted),
audited."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from accessportal.kernel.audit import AuditEntry, audit_record_many
from accessportal.kernel.errors import NotFound, ValidationFailed
from accessportal.kernel.locking import retry_on_conflict
from policies_app.documents import (
    normalize_oncall_schedule,
    normalize_review_rule,
    rule_schedules,
)
from policies_app.models import NamedSpec, OncallSchedule, ReviewRule
from policies_app.services.apply import ApplySummary, save_spec_row

KINDS = {
    "review_rule": (ReviewRule, normalize_review_rule),
    "oncall_schedule": (OncallSchedule, normalize_oncall_schedule),
}


def _rules_naming(schedule: str) -> list[str]:
    return [
        name
        for name, spec in ReviewRule.objects.values_list("name", "spec")
        if schedule in rule_schedules(spec.get("when", ""))
    ]


def review_document_check(
    *, kind: str, name: str, description: str = "", spec: object
) -> tuple[dict, list[str]]:
    """The normalized document and every problem with it, as `review_document_save` sees
    them (the admin form shows them before saving)."""
    _, normalize = KINDS[kind]
    doc, found = normalize({"kind": kind, "name": name, "description": description, "spec": spec})
    problems = [str(p) for p in found]
    if kind == "review_rule" and not found:
        known = set(OncallSchedule.objects.values_list("name", flat=True))
        missing = [s for s in rule_schedules(doc["spec"]["when"]) if s not in known]
        if missing:
            problems.append(f"spec.when: no oncall_schedule named {', '.join(map(repr, missing))}")
    return doc, problems


@retry_on_conflict
@transaction.atomic
def review_document_save(
    *,
    kind: str,
    name: str,
    description: str = "",
    spec: dict,
    actor: AbstractBaseUser | None = None,
    row_id: int | None = None,
) -> NamedSpec:
    """Create or change one review rule or on-call schedule (`kind`), audited.

    `row_id` names the row being edited (its name may change); raises ValidationFailed
    listing every problem, NotFound for an unknown `row_id`.
    """
    model, _ = KINDS[kind]
    doc, problems = review_document_check(kind=kind, name=name, description=description, spec=spec)
    if problems:
        raise ValidationFailed("; ".join(problems), field="spec")
    row = None
    if row_id is not None:
        row = model.objects.select_for_update().filter(pk=row_id).first()
        if row is None:
            raise NotFound(f"no such {kind}")
    if model.objects.filter(name=doc["name"]).exclude(pk=row_id).exists():
        raise ValidationFailed(f"a {kind} named {doc['name']!r} already exists", field="name")
    audit: list[AuditEntry] = []
    if row is not None and row.name != doc["name"]:
        if kind == "oncall_schedule" and (users := _rules_naming(row.name)):
            raise ValidationFailed(
                f"review rules {', '.join(users)} name this schedule; rename it there first",
                field="name",
            )
        audit.append(AuditEntry(f"{kind}.renamed", kind, doc["name"], actor, {"before": row.name}))
        row.name = doc["name"]
        row.save(update_fields=["name", "updated"])
    row = save_spec_row(model, kind, row, doc, ApplySummary(), audit, actor)
    audit_record_many(audit)
    return row


@retry_on_conflict
@transaction.atomic
def review_document_delete(
    *, kind: str, row_id: int, actor: AbstractBaseUser | None = None
) -> None:
    """Delete one review rule or on-call schedule (admin), audited. A schedule that a rule
    names is kept (ValidationFailed): the rule would silently stop firing."""
    model, _ = KINDS[kind]
    row = model.objects.select_for_update().filter(pk=row_id).first()
    if row is None:
        raise NotFound(f"no such {kind}")
    if kind == "oncall_schedule" and (users := _rules_naming(row.name)):
        raise ValidationFailed(f"review rules {', '.join(users)} name this schedule")
    entry = AuditEntry(f"{kind}.deleted", kind, row.name, actor, {"spec": row.spec})
    row.delete()
    audit_record_many([entry])  # last: it takes the chain head
