"""`provision:` entries of role (`spec.provision`) and resource (top-level) documents: the
targets outside the portal whose membership follows who holds the role or resource."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from accessportal.provisioners.base import provisioner_get, target_identity
from policies_app.documents.checker import Checker

MAX_ENTRIES = 20


def target_key(provisioner: str, target: dict) -> str:
    """The identity of a target: sha256 of the canonical JSON of the provisioner's name and
    the settings that name the real thing (`target_identity`: the provisioner's optional
    `identity(target)`, else the whole mapping; the whole mapping too when the provisioner
    is not installed). Two entries with one key are one target, whatever their other
    settings (a timeout): `provision_targets_sync` updates those in place."""
    try:
        identity = target_identity(provisioner_get(provisioner), target)
    except LookupError:
        identity = dict(target)
    canonical = json.dumps(
        {"provisioner": provisioner, "target": identity}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _json_problem(err: Exception) -> str:
    if isinstance(err, ValueError):
        return "NaN or Infinity is not a number JSON can store"
    return str(err).replace("Object of type ", "a value of type ")


def normalize_provision(check: Checker, raw: Any, field: str) -> list[dict]:
    """Check a list of `{provisioner, target, managed}` entries; normalized, in order.

    The provisioner must be installed and accept the target (its `check`, no network)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        check.add(field, "must be a list of {provisioner, target, managed} entries")
        return []
    if len(raw) > MAX_ENTRIES:
        check.add(field, f"at most {MAX_ENTRIES} entries")
        return []
    out: list[dict] = []
    keys: set[str] = set()
    for i, item in enumerate(raw):
        where = f"{field}[{i}]"
        before = len(check.problems)
        item = check.mapping(item, where, {"provisioner", "target", "managed"})
        name = item.get("provisioner")
        target = item.get("target", {})
        managed = item.get("managed", False)
        if not isinstance(name, str) or not name:
            check.add(f"{where}.provisioner", "is required (the name of an installed provisioner)")
        if not isinstance(target, dict):
            check.add(f"{where}.target", "must be a mapping of the provisioner's settings")
        if not isinstance(managed, bool):
            check.add(f"{where}.managed", "must be true or false")
        if len(check.problems) > before:
            continue
        try:  # stored as JSON: NaN, Infinity, dates, bytes would fail the write (a 500)
            json.dumps(target, allow_nan=False)
        except (TypeError, ValueError) as err:
            check.add(f"{where}.target", f"holds a value JSON cannot store ({_json_problem(err)})")
            continue
        try:
            provisioner = provisioner_get(name)
        except LookupError as err:
            check.add(f"{where}.provisioner", str(err))
            continue
        try:
            problems = provisioner.check(target)
        except Exception as err:  # noqa: BLE001 - a third-party check must not crash a load
            problems = [f"the provisioner could not check it ({type(err).__name__})"]
        for problem in problems:
            check.add(f"{where}.target", problem)
        if problems:
            continue
        key = target_key(name, target)
        if key in keys:
            check.add(where, "names the same target twice")
            continue
        keys.add(key)
        out.append({"provisioner": name, "target": target, "managed": managed})
    return out


def export_provision(entries: list[dict]) -> list[dict]:
    """Entries as people write them: `managed` only when true."""
    return [
        {"provisioner": e["provisioner"], "target": e["target"]}
        | ({"managed": True} if e.get("managed") else {})
        for e in entries
    ]


def provision_conflicts(
    named: list[tuple[str, str, list[dict]]], stored: dict[str, tuple[bool, str, dict]]
) -> list[str]:
    """Problems for one target (one `target_key`) named with different `managed` values or
    different settings (one target has one configuration): `named` is (document label,
    field, entries) triples; `stored` maps the keys of targets that documents not being
    loaded already name to (managed, "role x", settings).
    """
    seen: dict[str, tuple[bool, str, dict]] = dict(stored)
    problems: list[str] = []
    for label, field, entries in named:
        for i, entry in enumerate(entries):
            key = target_key(entry["provisioner"], entry["target"])
            if key in seen and seen[key][0] != entry["managed"]:
                problems.append(
                    f"{label}: {field}[{i}].managed: the same {entry['provisioner']} target "
                    f"is managed: {str(seen[key][0]).lower()} in {seen[key][1]}"
                )
            elif key in seen and seen[key][2] != entry["target"]:
                problems.append(
                    f"{label}: {field}[{i}].target: the same {entry['provisioner']} target "
                    f"has other settings in {seen[key][1]} (name it the same way everywhere)"
                )
            seen.setdefault(key, (entry["managed"], label, entry["target"]))
    return problems
