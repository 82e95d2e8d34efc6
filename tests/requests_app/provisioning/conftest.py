"""The engine's tests: a file-backed provisioner installed as a real plugin (a distribution
with an `accessportal.provisioners` entry point on sys.path), and helpers to drive it."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from accessportal.provisioners import base

PLUGIN = "ap_test_fileprov"


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """Install the `files` provisioner from a `.dist-info` directory on sys.path."""
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(Path(__file__).with_name("plugin_source.py"), site / f"{PLUGIN}.py")
    info = site / f"{PLUGIN}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PLUGIN}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[accessportal.provisioners]\nfiles = {PLUGIN}:FileProvisioner\n"
    )
    monkeypatch.syspath_prepend(str(site))
    sys.modules.pop(PLUGIN, None)
    base.provisioner_cache_clear()
    module = __import__(PLUGIN)
    yield module
    base.provisioner_cache_clear()
    sys.modules.pop(PLUGIN, None)


class Group:
    """One target of the `files` provisioner: its members file and its mode switch."""

    def __init__(self, directory: Path, name: str) -> None:
        self.dir, self.name = directory, name

    def target(self, **extra) -> dict:
        return {"dir": str(self.dir), "group": self.name, **extra}

    def yaml(self, *, managed: bool = False, **extra) -> str:
        entry = {"provisioner": "files", "target": self.target(**extra), "managed": managed}
        return json.dumps(entry)

    @property
    def members(self) -> set[str]:
        path = self.dir / f"{self.name}.json"
        return set(json.loads(path.read_text())) if path.exists() else set()

    @members.setter
    def members(self, value: set[str]) -> None:
        (self.dir / f"{self.name}.json").write_text(json.dumps(sorted(value)))

    def mode(self, value: str) -> None:
        (self.dir / f"{self.name}.mode").write_text(value)


@pytest.fixture
def groups(tmp_path, plugin):
    """groups("dbas") -> a Group in this test's directory."""
    directory = tmp_path / "groups"
    directory.mkdir()
    return lambda name: Group(directory, name)


def db_admin_provisioning(*entries: str) -> str:
    """The base policy's db-admin role, re-declared to provision `entries` (Group.yaml())."""
    lines = "\n".join(f"    - {e}" for e in entries)
    return (
        "kind: role\nname: db-admin\nspec:\n  allow:\n"
        "    permissions: [requests_app.check_access]\n"
        "    resources: {kinds: [db], labels: {env: [prod]}}\n"
        f"  provision:\n{lines}\n"
    )


@pytest.fixture
def dbas(apply_yaml, base_policy, groups):
    """db-admin provisions the `files` group "dbas" (unmanaged)."""
    group = groups("dbas")
    apply_yaml(db_admin_provisioning(group.yaml()))
    return group


@pytest.fixture
def approve(requester, reviewer):
    """approve("db-admin", max_duration="1h") -> alice's request for it, approved by bob."""
    from requests_app.services.access_requests import access_request_create
    from requests_app.services.reviews import review_submit

    def _approve(*roles: str, resources=(), **kwargs):
        request = access_request_create(
            requester=requester,
            roles=list(roles),
            resources=list(resources),
            reason="INC-1",
            **kwargs,
        )
        return review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")

    return _approve


@pytest.fixture
def work():
    """Run what the workers would: the provisioning sweep until nothing is due."""
    from celery._state import _set_task_join_will_block

    from requests_app import tasks

    def _run() -> int:
        total = 0
        # After threads ran eager tasks, Celery's process-wide "join blocks" flag may be
        # left set (tests/conftest.py, _celery_join_allowed): these are eager results.
        _set_task_join_will_block(False)
        while count := tasks.provision_due.delay().get():
            total += count
            if total > 100:
                raise AssertionError("the sweep keeps finding work")
        return total

    return _run
