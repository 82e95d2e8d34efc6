"""Generate the Python client an integrator would (openapi-python-client, from the schema the
server serves), once per schema and test session, and type-check code that uses it (mypy).

The generator runs offline on the schema text (no network); its ruff post-hooks are off, they
only reformat. The package is named `access_portal_client` whatever the schema's title, so
the driver (client_flow.py) imports it by a fixed name.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = "access_portal_client"
CONFIG = f"""\
project_name_override: access-portal-client
package_name_override: {PACKAGE}
post_hooks: []
"""


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def generate(schema: bytes, cache: Path) -> Path:
    """The directory that holds the generated package for this schema (reused when the same
    schema was generated before in `cache`)."""
    project = cache / hashlib.sha256(schema).hexdigest()[:16]
    if (project / PACKAGE / "__init__.py").is_file():
        return project
    work = cache / f"{project.name}.work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "schema.json").write_bytes(schema)
    (work / "config.yaml").write_text(CONFIG)
    done = _run(
        "openapi_python_client",
        "generate",
        "--path=schema.json",
        "--config=config.yaml",
        "--output-path=client",
        cwd=work,
    )
    if done.returncode != 0 or not (work / "client" / PACKAGE).is_dir():
        raise AssertionError(f"openapi-python-client failed:\n{done.stdout}\n{done.stderr}")
    (work / "client").rename(project)
    shutil.rmtree(work)
    return project


def type_check(project: Path, *modules: Path) -> str:
    """mypy --strict over the generated package and copies of the given modules placed beside
    it (so that they import it as an installed package); returns mypy's report when it found
    anything, else an empty string."""
    for module in modules:
        (project / module.name).write_text(module.read_text())
    done = _run(
        "mypy",
        "--strict",
        "--no-incremental",
        "--cache-dir=/dev/null",
        PACKAGE,
        *(module.name for module in modules),
        cwd=project,
    )
    return "" if done.returncode == 0 else done.stdout + done.stderr
