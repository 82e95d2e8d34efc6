"""What every document check shares: the Problem it reports and the Checker that collects
them while reading loosely typed YAML."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from policies_app.matching import validate_pattern
from policies_app.predicates import PredicateError, parse

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,99}$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document: where (a dotted path) and what."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, field: str, message: str) -> None:
        self.problems.append(Problem(field, message))

    def text(self, value: Any, field: str) -> str:
        """An optional string field (a description, an email); missing reads as ""."""
        value = value or ""
        if not isinstance(value, str):
            self.add(field, "must be a string")
            return ""
        return value

    def name(self, value: Any, what: str) -> str:
        """The `name` of a role or a notification rule (NAME_RE)."""
        if not isinstance(value, str) or not NAME_RE.match(value):
            self.add("name", f"a {what} name is 1-100 letters, digits or _ . : @ - (no spaces)")
            return str(value or "")
        return value

    def mapping(self, value: Any, field: str, allowed: set[str]) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(field, f"must be a mapping, got {type(value).__name__}")
            return {}
        for key in value:
            if key not in allowed:
                self.add(f"{field}.{key}", f"unknown field (allowed: {', '.join(sorted(allowed))})")
        return value

    def string_list(self, value: Any, field: str, *, pattern: bool = False) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.add(field, "must be a list of strings")
            return []
        out: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.add(f"{field}[{i}]", "must be a non-empty string")
                continue
            if pattern and (error := validate_pattern(item)):
                self.add(f"{field}[{i}]", error)
                continue
            if item not in out:
                out.append(item)
        return out

    def predicate(self, value: Any, field: str, scope: str) -> str:
        if value in (None, ""):
            return ""
        if not isinstance(value, str):
            self.add(field, "must be a string expression")
            return ""
        try:
            parse(value, scope=scope)
        except PredicateError as err:
            self.add(field, str(err))
        return value

    def count(self, value: Any, field: str) -> int:
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 1000:
            self.add(field, "must be a whole number from 0 to 1000")
            return 0
        return value

    def labels(self, value: Any, field: str, *, multi: bool) -> dict:
        """Resource labels (`{k: v}`) or label selectors (`{k: [v, ...]}`)."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(field, "must be a mapping of label names to values")
            return {}
        out: dict = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                self.add(field, f"label name {key!r} must be a non-empty string")
                continue
            if multi:
                out[key] = self.string_list(item, f"{field}.{key}", pattern=True)
            elif isinstance(item, str | int | float) and not isinstance(item, bool):
                out[key] = str(item)
            else:
                self.add(f"{field}.{key}", "must be a string")
        return out
