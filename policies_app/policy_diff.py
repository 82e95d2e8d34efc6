"""Field-level differences between policy documents, in the words of the policy files:
`role ops: spec.allow.request.max_duration: 3d → 5d`, list items added and removed.

Pure functions over canonical (exported) documents, keyed `"<kind> <name>"`
(`policies_app.services.export.document_label`). Written here rather than with a generic diff
library: DeepDiff's paths are Python subscripts (`root['spec']['allow']`) and, ignoring list
order, it reports moved indexes rather than the items a reviewer reads; ours are the dotted
field paths the loader's own error messages use.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class FieldChange:
    """One change: `op` is created / deleted (a whole document), changed, added or removed
    (a field or a list item; `path` is dotted, empty for a whole document)."""

    document: str
    path: str
    op: str
    before: Any = None
    after: Any = None

    def line(self) -> str:
        where = f"{self.document}: {self.path}" if self.path else self.document
        if self.op in ("created", "deleted"):
            return f"{where}: {self.op}"
        if self.op == "added":
            return f"{where}: + {_show(self.after)}"
        if self.op == "removed":
            return f"{where}: - {_show(self.before)}"
        return f"{where}: {_show(self.before)} → {_show(self.after)}"

    def as_dict(self) -> dict:
        return asdict(self)


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _fields(document: str, path: str, before: Any, after: Any) -> list[FieldChange]:
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[FieldChange] = []
        for k in [*before, *(k for k in after if k not in before)]:
            sub = f"{path}.{k}" if path else str(k)
            if k not in after:
                out.append(FieldChange(document, sub, "removed", before[k], None))
            elif k not in before:
                out.append(FieldChange(document, sub, "added", None, after[k]))
            else:
                out += _fields(document, sub, before[k], after[k])
        return out
    if isinstance(before, list) and isinstance(after, list):
        # Items, not positions: a reviewer reads "+ db-*", not "[2] changed".
        old, new = {_key(v): v for v in before}, {_key(v): v for v in after}
        out = [FieldChange(document, path, "removed", old[k], None) for k in old if k not in new]
        out += [FieldChange(document, path, "added", None, new[k]) for k in new if k not in old]
        if not out:  # same items, another order
            out.append(FieldChange(document, path, "changed", before, after))
        return out
    return [FieldChange(document, path, "changed", before, after)]


def _contents(document: str, path: str, value: Any) -> list[FieldChange]:
    """Every field of a new document as `+` lines, down to list items: a reviewer reads
    what a created role grants (`spec.allow.permissions: + ...`), not only that it exists."""
    if isinstance(value, dict) and value:
        out: list[FieldChange] = []
        for k, v in value.items():
            out += _contents(document, f"{path}.{k}" if path else str(k), v)
        return out
    if isinstance(value, list):
        return [FieldChange(document, path, "added", None, v) for v in value]
    if value in (None, "", {}):  # an empty field says nothing
        return []
    return [FieldChange(document, path, "added", None, value)]


def documents_diff(current: dict[str, dict], proposed: dict[str, dict]) -> list[FieldChange]:
    """Changes from `current` to `proposed` (both label -> document). A label only in
    `proposed` is created, followed by each of its fields as `+` lines; one only in
    `current` deleted (callers pass only the current documents the change may delete)."""
    out: list[FieldChange] = []
    for label, doc in proposed.items():
        if label not in current:
            out.append(FieldChange(label, "", "created", None, doc))
            for key, value in doc.items():
                if key not in ("kind", "name"):  # already in the label
                    out += _contents(label, key, value)
        else:
            out += _fields(label, "", current[label], doc)
    out += [
        FieldChange(label, "", "deleted", doc, None)
        for label, doc in current.items()
        if label not in proposed
    ]
    return out
