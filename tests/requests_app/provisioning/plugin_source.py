"""A provisioner kept in a JSON file: the engine's tests install it as a real distribution
(a `.dist-info` with an entry point, see conftest.py), so the plugin mechanism is proved too.

Target settings: `dir` (a directory), `group` (the file `<dir>/<group>.json` holds the
members; these two are its `identity`), optional `token_env` (a "secret" it puts in its
errors, which the engine must redact). A file `<dir>/<group>.mode` switches it: "fail"
refuses every call, "hang" waits the target's timeout and then gives up, "gone" makes
members() fail. `HOOK`, when set, is called with (operation, account) before a grant or
revoke writes (tests act mid-call).
"""

import json
import os
import time
from pathlib import Path

from accessportal.provisioners.base import ProvisionError, target_timeout

HOOK = None
CALLS = []


def _paths(target):
    base = Path(target["dir"]) / target["group"]
    return base.with_suffix(".json"), base.with_suffix(".mode")


def _mode(target):
    _, mode = _paths(target)
    return mode.read_text().strip() if mode.exists() else ""


def _gate(target, operation):
    mode = _mode(target)
    secret = os.environ.get(target.get("token_env", ""), "")
    if mode == "fail" or (mode == "gone" and operation == "members"):
        raise ProvisionError(f"group {target['group']} refused (token {secret})")
    if mode == "hang":
        time.sleep(target_timeout(target))
        raise ProvisionError(f"timed out after {target_timeout(target)} s")


def _read(target):
    path, _ = _paths(target)
    return set(json.loads(path.read_text())) if path.exists() else set()


def _write(target, members):
    path, _ = _paths(target)
    path.write_text(json.dumps(sorted(members)))


class FileProvisioner:
    def check(self, target):
        problems = []
        for key in ("dir", "group"):
            if not isinstance(target.get(key), str) or not target.get(key):
                problems.append(f"{key} is required")
        return problems

    def identity(self, target):
        """The directory and the group name the real thing; other settings (`token_env`,
        `timeout`, `note`) are changed in place."""
        return {"dir": target["dir"], "group": target["group"]}

    def describe(self, target):
        return f"group {target['group']}"

    def account(self, user, target):
        return "" if user.username.startswith("nologin") else f"uid={user.username}"

    def grant(self, account, target):
        _gate(target, "grant")
        if HOOK:
            HOOK("grant", account)
        CALLS.append(("grant", target["group"], account))
        _write(target, _read(target) | {account})

    def revoke(self, account, target):
        _gate(target, "revoke")
        if HOOK:
            HOOK("revoke", account)
        CALLS.append(("revoke", target["group"], account))
        _write(target, _read(target) - {account})

    def members(self, target):
        _gate(target, "members")
        return _read(target)

    def probe(self, target):
        _gate(target, "probe")
        if not Path(target["dir"]).is_dir():
            raise ProvisionError(f"no directory {target['dir']}")
