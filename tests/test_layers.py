"""Layers point one way (ARCHITECTURE.md): surfaces → requests → policies → kernel.

Read from the source, so a new import that points back fails here before it tangles the
house: the kernel and the provisioners import neither app, policies never import requests,
and the request domain (models, querysets, services, selectors, notifications) imports no
surface.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SURFACES = tuple(
    f"requests_app.{name}"
    for name in ("api", "admin", "portal", "tasks", "management", "templatetags", "health")
)

# The one import from the request domain up into a surface, made at call time: a job queued
# after commit is a Celery task, looked up by name in `requests_app.tasks`
# (services/jobs.py). The tasks module imports the services; the services only name it.
ALLOWED = {("requests_app/services/jobs.py", "requests_app.tasks")}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _sources(*folders: str, root: Path = ROOT) -> list[Path]:
    paths = []
    for folder in folders:
        base = root / folder
        paths += [base] if base.suffix == ".py" else sorted(base.rglob("*.py"))
    return [p for p in paths if "migrations" not in p.parts]


def _violations(
    folders: tuple[str, ...], forbidden: tuple[str, ...], root: Path = ROOT
) -> list[str]:
    out = []
    for path in _sources(*folders, root=root):
        rel = path.relative_to(root).as_posix()
        for name in sorted(_imports(path)):
            hit = any(name == f or name.startswith(f + ".") for f in forbidden)
            if hit and not any(rel == a and name.startswith(m) for a, m in ALLOWED):
                out.append(f"{rel} imports {name}")
    return out


@pytest.mark.parametrize(
    ("layer", "folders", "forbidden"),
    [
        ("kernel", ("accessportal/kernel",), ("requests_app", "policies_app")),
        ("provisioners", ("accessportal/provisioners",), ("requests_app", "policies_app")),
        ("policies", ("policies_app",), ("requests_app",)),
        (
            "requests domain",
            (
                "requests_app/models.py",
                "requests_app/querysets.py",
                "requests_app/backends.py",
                "requests_app/services",
                "requests_app/selectors",
                "requests_app/notifications",
            ),
            SURFACES,
        ),
    ],
)
def test_no_import_points_back(layer, folders, forbidden):
    assert _sources(*folders), f"no sources found for the {layer} layer"
    assert _violations(folders, forbidden) == []


def test_the_check_sees_an_import_that_points_back(tmp_path):
    """The scan itself works: a policies module importing the request services is caught."""
    package = tmp_path / "policies_app"
    package.mkdir()
    (package / "bad.py").write_text("from requests_app.services import visibility\n")
    (package / "fine.py").write_text("from accessportal.kernel.errors import NotFound\n")
    assert _violations(("policies_app",), ("requests_app",), root=tmp_path) == [
        "policies_app/bad.py imports requests_app.services",
        "policies_app/bad.py imports requests_app.services.visibility",
    ]
