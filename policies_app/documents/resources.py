"""`kind: resource` documents and resource ids (`kind/name`)."""

from __future__ import annotations

import re
from typing import Any

from policies_app.documents.checker import Checker, Problem
from policies_app.documents.provision import normalize_provision

KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
RESOURCE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,254}$")


def normalize_resource(doc: Any) -> tuple[dict, list[Problem]]:
    """Check a `kind: resource` document: {kind, name, labels, description, provision}."""
    check = Checker()
    doc = check.mapping(
        doc, "resource", {"kind", "id", "labels", "description", "version", "provision"}
    )
    rid = doc.get("id")
    kind, _, name = rid.partition("/") if isinstance(rid, str) else ("", "", "")
    if not KIND_RE.match(kind) or not RESOURCE_NAME_RE.match(name):
        check.add("id", f"{rid!r} is not kind/name (e.g. node/db-prod-1)")
    description = check.text(doc.get("description"), "description")
    labels = check.labels(doc.get("labels"), "labels", multi=False)
    provision = normalize_provision(check, doc.get("provision"), "provision")
    return (
        {
            "kind": kind,
            "name": name,
            "labels": labels,
            "description": description,
            "provision": provision,
        },
        check.problems,
    )


def parse_resource_id(value: str) -> tuple[str, str] | None:
    """`kind/name` -> (kind, name), or None when it is not one."""
    if not isinstance(value, str):
        return None
    kind, _, name = value.partition("/")
    if KIND_RE.match(kind) and RESOURCE_NAME_RE.match(name):
        return kind, name
    return None
