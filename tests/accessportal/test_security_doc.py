"""docs/SECURITY.md names, for each threat, the test that proves it: those tests exist.

A renamed or deleted test would leave a threat without its proof while the page still
claims one; this keeps the page honest. (That they pass is the rest of the suite's job.)
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
TESTS = ROOT / "tests"
# `file.py::test_name`, or `::test_name` continuing the previous file.
REFERENCE = re.compile(r"`((?:[\w/]+\.py)?)::(\w+)`")


def _references() -> list[tuple[str, str]]:
    text = (ROOT / "docs" / "SECURITY.md").read_text()
    found, current = [], None
    for path, name in REFERENCE.findall(text):
        current = path or current
        assert current, f"::{name} has no file before it"
        found.append((current, name))
    return found


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def _threat_rows() -> list[str]:
    """The body rows of every `| threat | mitigation | proof |` table."""
    rows, inside = [], False
    for line in (ROOT / "docs" / "SECURITY.md").read_text().splitlines():
        if line.startswith("| threat | mitigation | proof |"):
            inside = True
        elif not line.startswith("|"):
            inside = False
        elif inside and not line.startswith("|---"):
            rows.append(line)
    return rows


def test_every_threat_row_names_a_proof_and_none_is_pending():
    rows = _threat_rows()
    assert len(rows) > 40
    for row in rows:
        proof = row.rstrip(" |").rsplit(" | ", 1)[-1]
        assert "part pending" not in proof.lower(), row[:100]
        assert "::" in proof, row[:100]


def test_every_referenced_test_exists():
    references = _references()
    assert len(references) > 80
    missing = []
    for path, name in references:
        file = TESTS / path
        if not file.exists() or name not in _test_names(file):
            missing.append(f"{path}::{name}")
    assert missing == []
