"""deploy/accessportal-manage gives manage.py the environment file's values exactly as
systemd gives them to the units (deploy/systemd_envfile.py), and refuses a file without a
DATABASE_URL in one line."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SERVICES

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "accessportal-manage"
sys.path.insert(0, str(ROOT / "deploy"))
import systemd_envfile  # noqa: E402

DATABASE_URL = (
    "postgres://portal:pa%26ss@db.internal:5432/portal"
    "?sslmode=require&application_name=access'portal&conn_max_age=60"
)
ENV_FILE = f"""# /etc/accessportal/env
DATABASE_URL={DATABASE_URL}
DEFAULT_FROM_EMAIL="Access Portal <access@example.com>"
SOME_JSON='[{{"id": "okta", "name": "Okta & co"}}]'
EMAIL_SUBJECT_PREFIX="[Access \\"Portal\\"] $HOME"
"""
_SHOW = (
    "import json, os; from django.conf import settings as s; d = s.DATABASES['default']; "
    "print(json.dumps({'url': os.environ['DATABASE_URL'], 'options': d['OPTIONS'], "
    "'name': d['NAME'], 'password': d['PASSWORD'], 'from': s.DEFAULT_FROM_EMAIL, "
    "'prefix': s.EMAIL_SUBJECT_PREFIX, 'oidc': os.environ['SOME_JSON']}))"
)


def manage(env_file: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "ACCESSPORTAL_MODE"}}
    env |= {
        "ACCESSPORTAL_DIR": str(ROOT),
        "ACCESSPORTAL_ENV_FILE": str(env_file),
        "ACCESSPORTAL_USER": getpass.getuser(),  # as root, the script would use runuser
    }
    return subprocess.run(
        ["/bin/sh", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_a_url_with_ampersands_and_quoted_values_reach_manage_py_intact(tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text(ENV_FILE)
    result = manage(env_file, "shell", "-c", _SHOW)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["url"] == DATABASE_URL
    assert (seen["name"], seen["password"]) == ("portal", "pa&ss")
    assert seen["options"] == {"sslmode": "require", "application_name": "access'portal"}
    assert seen["from"] == "Access Portal <access@example.com>"
    assert seen["oidc"] == '[{"id": "okta", "name": "Okta & co"}]'
    assert seen["prefix"] == '[Access "Portal"] $HOME', "no expansion, as in systemd"


@pytest.mark.parametrize(
    "line", ["DATABASE_URL=", "# DATABASE_URL=postgres://x/y", 'DATABASE_URL=""']
)
def test_a_missing_or_empty_database_url_is_refused_in_one_line(tmp_path, line):
    env_file = tmp_path / "env"
    env_file.write_text(f"ACCESSPORTAL_MODE=production\n{line}\n")
    result = manage(env_file, "check")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"accessportal-manage: {env_file}: DATABASE_URL is missing or empty (the services need it)"
    ]


def test_an_unreadable_environment_file_is_one_line(tmp_path):
    result = manage(tmp_path / "missing", "check")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"accessportal-manage: cannot read the environment file {tmp_path / 'missing'}: "
        "No such file or directory"
    ]


# Lines whose meaning differs between sh and systemd, or that trip a naive reader.
TRICKY = r"""ID=accessportal-envfile-test
; a comment
A=postgres://u:p@h:5432/db?sslmode=require&conn_max_age=60
B="Access Portal <access@example.com>"
C='[{"id": "okta", "name": "Okta"}]'
D=  spaced value   
E="dq \"in\" \$HOME \`x\` \\ \n end"
F='sq $HOME \n'
G=un\ esc\aped
H="joined"'parts'tail
I=cont\
inued
J="multi
line"
  K  = key spaced
L=a#b ;c
M=$HOME
O="trail  "   
"""  # noqa: W291 (the trailing spaces are part of the test)


def test_the_reader_follows_systemds_rules():
    values = systemd_envfile.parse(TRICKY)
    assert values == {
        "ID": "accessportal-envfile-test",
        "A": "postgres://u:p@h:5432/db?sslmode=require&conn_max_age=60",
        "B": "Access Portal <access@example.com>",
        "C": '[{"id": "okta", "name": "Okta"}]',
        "D": "spaced value",
        "E": 'dq "in" $HOME `x` \\ \\n end',
        "F": "sq $HOME \\n",
        "G": "un escaped",
        "H": "joinedpartstail",
        "I": "continued",
        "J": "multi\nline",
        "K": "key spaced",
        "L": "a#b ;c",
        "M": "$HOME",
        "O": "trail  ",
    }


def test_systemd_itself_reads_the_tricky_file_the_same_way(tmp_path):
    """The same file read by systemd's own parser: os-release is read with it, so the file
    is mounted over /etc/os-release in a private mount namespace and every value is checked
    with `systemd-analyze condition ConditionOSRelease=KEY=VALUE`."""
    missing = [tool for tool in ("systemd-analyze", "unshare") if not shutil.which(tool)]
    if missing:
        if REQUIRE_SERVICES:
            pytest.fail(f"{missing} required (ACCESSPORTAL_REQUIRE_SERVICES=1)")
        pytest.skip(f"needs {missing}")
    if os.geteuid() != 0:
        pytest.skip("a private mount namespace needs root")
    env_file = tmp_path / "os-release"
    env_file.write_text(TRICKY)
    conditions = []
    for key, value in systemd_envfile.parse(TRICKY).items():
        quoted = (key + "=" + value).replace("\\", "\\\\").replace('"', '\\"')
        conditions.append(f'ConditionOSRelease="{quoted}"')
    wrong = 'ConditionOSRelease="A=postgres://u:p@h:5432/db?sslmode=require"'  # the control
    script = "mount --bind \"$0\" /etc/os-release && for c in \"$@\"; do " \
             "systemd-analyze condition \"$c\" >/dev/null 2>&1; echo $?; done"  # fmt: skip
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, str(env_file), *conditions, wrong],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if "mount" in result.stderr or "unshare" in result.stderr:
        pytest.skip(f"no private mount namespace here: {result.stderr.strip()}")
    *agreed, control = result.stdout.split()
    assert control != "0", "a value systemd did not read is refused"
    assert agreed == ["0"] * len(conditions), list(zip(conditions, agreed, strict=True))
