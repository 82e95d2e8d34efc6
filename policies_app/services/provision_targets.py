"""Provisioning targets kept in step with the documents that name them.

A target is identified by its provisioner and the settings that name the real thing
(`target_key`, from the provisioner's `identity`); its other settings (a timeout,
`managed`, the label) are updated in place, keeping its assignments and members. The roles
and resources naming it are recorded on the row. A target no document names any more is
retired (kept for history): the request layer then revokes its members, told through
`review_rules_changed` like every other policy change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from django.db.models import F
from django.utils import timezone

from accessportal.kernel.audit import AuditEntry
from accessportal.provisioners.base import ProvisionError, provisioner_get, redact
from policies_app.documents.provision import target_key
from policies_app.models import ProvisionTarget, Resource, Role


@dataclass
class _Wanted:
    provisioner: str
    config: dict
    managed: bool
    roles: set[str] = field(default_factory=set)
    resources: set[str] = field(default_factory=set)


def resource_provision_entries(resource_id: str) -> list[dict]:
    """The `provision` entries a stored resource names (from its live targets)."""
    rows = ProvisionTarget.objects.filter(retired_at=None).order_by("id")
    return [
        {"provisioner": t.provisioner, "target": t.config, "managed": t.managed}
        for t in rows
        if resource_id in t.resources
    ]


def _wanted(resource_entries: dict[str, list[dict]]) -> dict[str, _Wanted]:
    """Every target the stored roles name, and the resources: `resource_entries` for the
    resources given, what is stored for the other resources that still exist."""
    wanted: dict[str, _Wanted] = {}

    def add(entry: dict, role: str | None = None, resource: str | None = None) -> None:
        key = target_key(entry["provisioner"], entry["target"])
        item = wanted.setdefault(
            key, _Wanted(entry["provisioner"], entry["target"], entry["managed"])
        )
        item.roles |= {role} if role else set()
        item.resources |= {resource} if resource else set()

    for name, spec in Role.objects.values_list("name", "spec"):
        for entry in (spec or {}).get("provision", []):
            add(entry, role=name)
    existing = {r.resource_id for r in Resource.objects.only("kind", "name")}
    for rid, entries in resource_entries.items():
        for entry in entries:
            add(entry, resource=rid)
    for target in ProvisionTarget.objects.filter(retired_at=None):
        for rid in target.resources:
            if rid in existing and rid not in resource_entries:
                add(
                    {
                        "provisioner": target.provisioner,
                        "target": target.config,
                        "managed": target.managed,
                    },
                    resource=rid,
                )
    return wanted


def _label(name: str, config: dict) -> str:
    try:
        return redact(str(provisioner_get(name).describe(config)), config)[:500]
    except Exception:  # noqa: BLE001 - a label is no reason to refuse a policy
        return name


def provision_targets_sync(
    *, resource_entries: dict[str, list[dict]], actor=None
) -> tuple[list[tuple[str, str]], list[AuditEntry]]:
    """Create, update, revive or retire targets to match what the documents name.

    Returns ([("created" | "updated", "provision_target <label>")], audit entries); the
    caller records the audit and tells the request layer (`review_rules_changed`)."""
    now = timezone.now()
    wanted = _wanted(resource_entries)
    lines: list[tuple[str, str]] = []
    audit: list[AuditEntry] = []
    existing, superseded = _existing_by_key()
    for key, item in wanted.items():
        row = existing.get(key)
        data = {
            "managed": item.managed,
            "roles": sorted(item.roles),
            "resources": sorted(item.resources),
            "config": item.config,
        }
        if row is None:
            row = ProvisionTarget.objects.create(
                key=key,
                provisioner=item.provisioner,
                label=_label(item.provisioner, item.config),
                **data,
            )
            lines.append(("created", f"provision_target {row.label}"))
            audit.append(_entry("created", row, actor, data))
            continue
        label = _label(item.provisioner, item.config)
        before = {name: getattr(row, name) for name in data}
        if before == data and row.retired_at is None and row.key == key and row.label == label:
            continue
        revived = row.retired_at is not None
        _rekey(row, key, superseded)
        for name, value in data.items():
            setattr(row, name, value)
        row.label, row.retired_at = label, None
        row.save(update_fields=[*data, "key", "label", "retired_at", "updated"])
        lines.append(("updated", f"provision_target {row.label}"))
        audit.append(
            _entry("revived" if revived else "updated", row, actor, {**data, "before": before})
        )
    for row in [*existing.values(), *superseded]:
        if row.key not in wanted and row.retired_at is None:
            row.retired_at = now
            row.save(update_fields=["retired_at", "updated"])
            lines.append(("updated", f"provision_target {row.label} (retired)"))
            audit.append(_entry("retired", row, actor, {}))
    return lines, audit


def _existing_by_key() -> tuple[dict[str, ProvisionTarget], list[ProvisionTarget]]:
    """Every stored target by its key recomputed now (`target_key`), and the ones another
    row with the same identity supersedes. Keys stored by an older rule (the whole mapping,
    or a provisioner without `identity` then) are matched this way and re-keyed when the
    apply touches them: the live row first, then the newest."""
    existing: dict[str, ProvisionTarget] = {}
    superseded: list[ProvisionTarget] = []
    rows = ProvisionTarget.objects.order_by(F("retired_at").desc(nulls_first=True), "-id")
    for row in rows:
        key = target_key(row.provisioner, row.config)
        if key in existing:
            superseded.append(row)
        else:
            existing[key] = row
    return existing, superseded


def _rekey(row: ProvisionTarget, key: str, superseded: list[ProvisionTarget]) -> None:
    """Give `row` the key `key`, moving a superseded row that still holds it aside."""
    if row.key == key:
        return
    for other in superseded:
        if other.key == key:
            other.key = hashlib.sha256(f"superseded:{other.pk}".encode()).hexdigest()
            other.save(update_fields=["key", "updated"])
    row.key = key


def _entry(what: str, row: ProvisionTarget, actor, data: dict) -> AuditEntry:
    return AuditEntry(
        f"provision_target.{what}",
        "provision_target",
        str(row.pk),
        actor,
        {"provisioner": row.provisioner, "label": row.label, **data},
    )


def provision_targets_probe(plan_entries: list[dict]) -> list[str]:
    """One warning per target of `plan_entries` that cannot be reached (dry runs)."""
    warnings: list[str] = []
    seen: set[str] = set()
    for entry in plan_entries:
        key = target_key(entry["provisioner"], entry["target"])
        if key in seen:
            continue
        seen.add(key)
        label = _label(entry["provisioner"], entry["target"])
        try:
            provisioner_get(entry["provisioner"]).probe(entry["target"])
        except ProvisionError as err:
            warnings.append(
                f"warning: {entry['provisioner']} target {label} unreachable: "
                f"{redact(str(err), entry['target'])}"
            )
        except Exception as err:  # noqa: BLE001 - a broken provisioner is a warning here too
            warnings.append(
                f"warning: {entry['provisioner']} target {label} unreachable: "
                f"{redact(f'{type(err).__name__}: {err}', entry['target'])}"
            )
    return warnings
