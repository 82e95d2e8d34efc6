"""A review rule's reason as a template: `{request.user}` is on call for `{oncall}`.

Only these placeholders exist; `{{` and `}}` are literal braces. Checked when a rule is
loaded (an unknown placeholder or a lone brace is refused), filled in with plain string
substitution (never `str.format`, which would reach into attributes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDERS = {
    "rule": "the rule's name",
    "request.user": "the requester's user name",
    "request.roles": "the requested roles, comma-separated",
    "request.resources": "the requested resources, comma-separated",
    "oncall": "the schedules the requester is on call in, comma-separated",
}
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
MAX_FILLED = 1000  # characters: the review's reason stays a readable line


def reason_template_problems(text: str) -> list[str]:
    """What is wrong with `text` as a reason template (empty when nothing)."""
    problems = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        name = match.group(1)
        if name is None:
            problems.append(f"a lone {token!r} at position {match.start()} (write {token * 2})")
        elif name not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            problems.append(f"unknown placeholder {token} (known: {known})")
    return problems


def reason_fill(text: str, values: Mapping[str, str]) -> str:
    """`text` with each placeholder replaced by its value ("" when missing)."""

    def _one(match: re.Match) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        return str(values.get(name, "")) if name is not None else token

    return _TOKEN.sub(_one, text)[:MAX_FILLED]
