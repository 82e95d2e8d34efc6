"""The predicate syntax tree and its evaluation: total over odd context data (missing
sections, None, wrong types read as "" or [])."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from policies_app.matching import matches
from policies_app.predicates.language import STRING_VARIABLES

Value = str | list[str]


def _as_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):  # numbers from YAML/JSON traits read as text
        try:
            return str(value)
        except ValueError:  # an int past Python's 4300-digit printing limit
            return ""
    return ""


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple | set | frozenset):
        # Elements that are neither text nor numbers (None, nested lists) are dropped.
        return [_as_string(v) for v in value if isinstance(v, str | int | float)]
    if isinstance(value, int | float):
        return [_as_string(value)]
    return []


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _equals(a: Value, b: Value) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    # A list equals a string only when it is exactly that one string.
    return _as_list(a) == _as_list(b)


def _contains(haystack: Value, needle: Value) -> bool:
    needles = needle if isinstance(needle, list) else [needle]
    # Fail closed: "contains nothing" must not grant, e.g. when an annotation is missing.
    if not needles:
        return False
    # Substring for a string haystack, membership for a list: `in` does both.
    return all(n in haystack for n in needles)


def _regexp_match(subject: Value, pattern: Value) -> bool:
    if not isinstance(pattern, str):
        return False
    if isinstance(subject, str):
        return matches(pattern, subject)
    return any(matches(pattern, s) for s in subject)


def is_ascii_integer(text: str) -> bool:
    """Whether `text` is 1-9 ASCII digits: what `int()` takes for sure (`"²".isdigit()` is
    true, yet `int("²")` raises)."""
    return isinstance(text, str) and re.fullmatch(r"[0-9]{1,9}", text) is not None


def _integer(value: Value) -> int | None:
    """A whole number from the context or a literal; None (the call is false) otherwise.
    Never raises, whatever the text."""
    if isinstance(value, str) and is_ascii_integer(value.strip()):
        return int(value.strip())
    return None


def _between(value: Value, low: Value, high: Value) -> bool:
    """`low <= value < high` as whole numbers (`between(now.hour, "9", "17")`: 09:00-16:59);
    with low > high the range wraps (`"22", "6"`: the night). Not a number: false."""
    v, lo, hi = _integer(value), _integer(low), _integer(high)
    if v is None or lo is None or hi is None:
        return False
    return lo <= v < hi if lo <= hi else (v >= lo or v < hi)


def _oncall(ctx: Mapping[str, Any], schedule: Value) -> bool:
    """Whether the requester is on call now in `schedule`: asks the `oncall` callable the
    caller put in the context (policies_app.review_rules); none there reads as false."""
    ask = ctx.get("oncall")
    return bool(callable(ask) and isinstance(schedule, str) and ask(schedule))


FUNCTIONS: dict[str, Callable[..., bool]] = {
    "contains": _contains,
    "equals": _equals,
    "regexp.match": _regexp_match,
    "between": _between,
}
# Functions that read the context beyond their arguments (called with it first).
CONTEXT_FUNCTIONS: dict[str, Callable[..., bool]] = {"oncall": _oncall}


# --- syntax tree ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Str:
    """A string literal (already unescaped)."""

    value: str
    pos: int

    def resolve(self, ctx: Mapping[str, Any]) -> Value:
        return self.value


@dataclass(frozen=True, slots=True)
class Var:
    """A variable such as `request.roles` or `reviewer.traits["team"]`."""

    name: str
    key: str | None
    pos: int

    def resolve(self, ctx: Mapping[str, Any]) -> Value:
        section, _, attr = self.name.partition(".")
        value = _mapping(ctx.get(section)).get(attr)
        if self.key is not None:
            value = _mapping(value).get(self.key)
        if self.name in STRING_VARIABLES:
            return _as_string(value)
        return _as_list(value)


@dataclass(frozen=True, slots=True)
class Call:
    """A function call; the only boolean leaf of the language."""

    name: str
    args: tuple[Str | Var, ...]
    pos: int

    def test(self, ctx: Mapping[str, Any]) -> bool:
        args = [arg.resolve(ctx) for arg in self.args]
        # Total: input no function foresaw makes the call false, never an error (a 500, a
        # crashed job); the functions themselves avoid raising, this is the backstop.
        try:
            if self.name in CONTEXT_FUNCTIONS:
                return bool(CONTEXT_FUNCTIONS[self.name](ctx, *args))
            return bool(FUNCTIONS[self.name](*args))
        except (ValueError, TypeError, OverflowError, UnicodeError):
            return False


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _seconds(value: Any) -> float | None:
    """A duration from the context, in seconds; None for anything that is not a finite,
    non-negative number (the comparison then fails closed)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


@dataclass(frozen=True, slots=True)
class Compare:
    """`request.pending_for > duration("2h")`, normalized so the variable is on the left.

    Fails closed: without a usable duration in the context the comparison is false (and
    `!(...)` of it true, as written)."""

    variable: str
    op: str
    seconds: int
    pos: int

    def test(self, ctx: Mapping[str, Any]) -> bool:
        section, _, attr = self.variable.partition(".")
        value = _seconds(_mapping(ctx.get(section)).get(attr))
        return value is not None and _COMPARE[self.op](value, self.seconds)


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node

    def test(self, ctx: Mapping[str, Any]) -> bool:
        return not self.operand.test(ctx)


# n-ary rather than binary nodes: a chain of 2000 `&&` stays one level deep when evaluated.
@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]

    def test(self, ctx: Mapping[str, Any]) -> bool:
        return all(op.test(ctx) for op in self.operands)


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]

    def test(self, ctx: Mapping[str, Any]) -> bool:
        return any(op.test(ctx) for op in self.operands)


Node = Call | Compare | Not | And | Or


def _walk(node: Node):
    """Every node of the tree, in reading order (iterative: no recursion limit to reach)."""
    stack: list[Node] = [node]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, Not):
            stack.append(node.operand)
        elif isinstance(node, And | Or):
            stack.extend(reversed(node.operands))
        # Call and Compare are leaves.


@dataclass(frozen=True, slots=True)
class Predicate:
    """A parsed, validated predicate; immutable and safe to share (parse() caches them)."""

    text: str
    scope: str
    root: Node = field(repr=False)

    def calls(self, name: str) -> list[Call]:
        """Every call of function `name` in the tree, in reading order."""
        return [n for n in _walk(self.root) if isinstance(n, Call) and n.name == name]

    def variables(self) -> list[Var]:
        """Every variable the predicate reads, once each, in reading order."""
        seen: dict[tuple[str, str | None], Var] = {}
        for node in _walk(self.root):
            if isinstance(node, Call):
                for arg in node.args:
                    if isinstance(arg, Var):
                        seen.setdefault((arg.name, arg.key), arg)
            elif isinstance(node, Compare):
                seen.setdefault((node.variable, None), Var(node.variable, None, node.pos))
        return list(seen.values())

    def evaluate(self, ctx: Mapping[str, Any]) -> bool:
        """Whether the predicate holds for `ctx` (see the module docstring for its shape)."""
        return bool(self.root.test(ctx if isinstance(ctx, Mapping) else {}))

    def duration_bounds(self, variable: str = "request.pending_for") -> frozenset[int]:
        """The `duration(...)` seconds `variable` is compared with: between two of them
        (and past the last) the predicate's answer cannot change as time passes, which is
        how visibility finds when a time-dependent `where` can first hold."""
        return frozenset(
            n.seconds for n in _walk(self.root) if isinstance(n, Compare) and n.variable == variable
        )
