"""The predicate language of threshold `filter`s and review `where`s, modelled on Teleport's.

    contains(reviewer.roles, "proletariat") && !equals(request.reason, "")

A hand-written tokenizer and recursive-descent parser turn the text into a tree of small
frozen dataclasses; nothing is ever passed to eval/exec. Grammar, loosest binding first:

    expression := and ("||" and)*
    and        := unary ("&&" unary)*
    unary      := "!" unary | "(" expression ")" | call
    call       := FUNCTION "(" [value ("," value)*] ")"
    value      := STRING | VARIABLE ["[" STRING "]"]

Every mistake is a PredicateError carrying the 0-based offset it was found at. Evaluation is
total: odd context data (missing sections, None, wrong types) reads as "" or [].
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any

from policies_app.matching import matches, validate_pattern

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "SCOPES", "Predicate", "PredicateError", "parse"]

MAX_LENGTH = 4096
# Bounds the parser's recursion (a few Python frames per level) far below the interpreter's
# limit, so hostile input is refused with a PredicateError rather than a RecursionError.
MAX_DEPTH = 50

# Display order for messages; SCOPES below says which are usable where.
_VARIABLE_ORDER = (
    "reviewer.roles",
    "reviewer.traits",
    "request.roles",
    "request.reason",
    "request.annotations",
    "review.reason",
    "request.user",
    "request.resources",
)
_REVIEW_VARIABLES = frozenset(_VARIABLE_ORDER[:6])
SCOPES: dict[str, frozenset[str]] = {
    "filter": _REVIEW_VARIABLES,
    "where": _REVIEW_VARIABLES - {"review.reason"},
    # Notification rules (kind: notification_rule) look at the request only.
    "notification": frozenset(
        {
            "request.roles",
            "request.reason",
            "request.annotations",
            "request.user",
            "request.resources",
        }
    ),
}
_ALL_VARIABLES = frozenset().union(*SCOPES.values())
# Maps of lists: only meaningful with a key, so a bare reference is a mistake.
_INDEXED = frozenset({"reviewer.traits", "request.annotations"})
_STRING_VARIABLES = frozenset({"request.reason", "review.reason", "request.user"})

_FUNCTION_ARITY = {"contains": 2, "equals": 2, "regexp.match": 2}


class PredicateError(ValueError):
    """A predicate that cannot be parsed, with where in `text` the problem was found."""

    def __init__(self, message: str, position: int, text: str) -> None:
        # All three in args so the exception pickles and copies faithfully.
        super().__init__(message, position, text)
        self.message = message
        self.position = position
        self.text = text

    def __str__(self) -> str:
        return f"{self.message} at position {self.position}\n{_pointer(self.text, self.position)}"


def _pointer(text: str, position: int) -> str:
    """The source line holding `position` and a caret under it."""
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    line = text[start : end if end != -1 else len(text)]
    column = position - start
    # A window around the column keeps messages about 4 KiB expressions readable.
    width = 80
    if len(line) > width:
        left = max(0, min(column - width // 2, len(line) - width))
        right = left + width
        prefix = "..." if left > 0 else ""
        suffix = "..." if right < len(line) else ""
        line = prefix + line[left:right] + suffix
        column = column - left + len(prefix)
    # Control characters would garble the display; tabs stay so the caret lines up.
    line = "".join(c if c.isprintable() or c == "\t" else " " for c in line)
    pad = "".join("\t" if c == "\t" else " " for c in line[:column])
    return f"{line}\n{pad}^"


# --- tokens ---------------------------------------------------------------------------------


class _Kind(Enum):
    STRING = "string"
    IDENT = "name"
    LPAREN = "("
    RPAREN = ")"
    LBRACKET = "["
    RBRACKET = "]"
    COMMA = ","
    AND = "&&"
    OR = "||"
    NOT = "!"
    EOF = "end"


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _Kind
    pos: int
    end: int
    value: str = ""  # decoded string, or the identifier
    call: bool = False  # an identifier directly followed by "(" (a function name)


_PUNCTUATION = {
    "(": _Kind.LPAREN,
    ")": _Kind.RPAREN,
    "[": _Kind.LBRACKET,
    "]": _Kind.RBRACKET,
    ",": _Kind.COMMA,
    "!": _Kind.NOT,
}
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
# ASCII only on purpose: look-alike Unicode letters must not sneak into names.
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


class _Lexer:
    """Produces tokens on demand, so the first error in reading order is the one reported."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def _error(self, message: str, position: int) -> PredicateError:
        return PredicateError(message, position, self.text)

    def _skip_space(self, i: int) -> int:
        text, n = self.text, len(self.text)
        while i < n and text[i].isspace():
            i += 1
        return i

    def next(self) -> _Token:
        text = self.text
        i = self._skip_space(self.i)
        if i >= len(text):
            self.i = i
            return _Token(_Kind.EOF, i, i)
        ch = text[i]
        for op, kind in (("&&", _Kind.AND), ("||", _Kind.OR)):
            if text.startswith(op, i):
                self.i = i + 2
                return _Token(kind, i, i + 2, op)
        if ch in _PUNCTUATION:
            self.i = i + 1
            return _Token(_PUNCTUATION[ch], i, i + 1, ch)
        if ch == '"':
            return self._string(i)
        if ch == "'":
            raise self._error("single-quoted strings are not allowed; use double quotes", i)
        if m := _IDENT_RE.match(text, i):
            self.i = m.end()
            after = self._skip_space(m.end())
            call = after < len(text) and text[after] == "("
            return _Token(_Kind.IDENT, i, m.end(), m.group(), call)
        hint = {"&": " (did you mean '&&'?)", "|": " (did you mean '||'?)"}.get(ch, "")
        raise self._error(f"unexpected character {ch!r}{hint}", i)

    def _string(self, start: int) -> _Token:
        text, n = self.text, len(self.text)
        chars: list[str] = []
        i = start + 1
        while i < n:
            ch = text[i]
            if ch == '"':
                self.i = i + 1
                return _Token(_Kind.STRING, start, i + 1, "".join(chars))
            if ch == "\\":
                if i + 1 >= n:
                    break
                escaped = text[i + 1]
                if escaped not in _ESCAPES:
                    raise self._error(
                        f"invalid escape sequence \\{escaped} in a string "
                        '(allowed: \\" \\\\ \\n \\t)',
                        i,
                    )
                chars.append(_ESCAPES[escaped])
                i += 2
                continue
            chars.append(ch)
            i += 1
        raise self._error("unterminated string", start)


# --- evaluation helpers ---------------------------------------------------------------------

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


_FUNCTIONS: dict[str, Callable[[Value, Value], bool]] = {
    "contains": _contains,
    "equals": _equals,
    "regexp.match": _regexp_match,
}


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
        if self.name in _STRING_VARIABLES:
            return _as_string(value)
        return _as_list(value)


@dataclass(frozen=True, slots=True)
class Call:
    """A function call; the only boolean leaf of the language."""

    name: str
    args: tuple[Str | Var, ...]
    pos: int

    def test(self, ctx: Mapping[str, Any]) -> bool:
        return _FUNCTIONS[self.name](*(arg.resolve(ctx) for arg in self.args))


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


Node = Call | Not | And | Or


@dataclass(frozen=True, slots=True)
class Predicate:
    """A parsed, validated predicate; immutable and safe to share (parse() caches them)."""

    text: str
    scope: str
    root: Node = field(repr=False)

    def evaluate(self, ctx: Mapping[str, Any]) -> bool:
        """Whether the predicate holds for `ctx` (see the module docstring for its shape)."""
        return bool(self.root.test(ctx if isinstance(ctx, Mapping) else {}))


# --- parser ---------------------------------------------------------------------------------


def _variable_list(names: frozenset[str]) -> str:
    return ", ".join(
        f'{name}["..."]' if name in _INDEXED else name for name in _VARIABLE_ORDER if name in names
    )


class _Parser:
    def __init__(self, text: str, scope: str) -> None:
        self.text = text
        self.scope = scope
        self.allowed = SCOPES[scope]
        self.lexer = _Lexer(text)
        self.tok = self.lexer.next()
        self.depth = 0

    def error(self, message: str, position: int) -> PredicateError:
        return PredicateError(message, position, self.text)

    def advance(self) -> _Token:
        tok = self.tok
        self.tok = self.lexer.next()
        return tok

    def describe(self, tok: _Token) -> str:
        if tok.kind is _Kind.EOF:
            return "the end of the expression"
        if tok.kind is _Kind.IDENT:
            return f"{tok.value}(...)" if tok.call else tok.value
        if tok.kind is _Kind.STRING:
            source = self.text[tok.pos : tok.end]
            return source if len(source) <= 40 else source[:37] + '..."'
        return f"'{tok.value}'"

    def enter(self, tok: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"expression is nested deeper than {MAX_DEPTH} levels", tok.pos)

    def parse(self) -> Node:
        node = self.expression()
        tok = self.tok
        if tok.kind is _Kind.RPAREN:
            raise self.error("unmatched ')'", tok.pos)
        if tok.kind is not _Kind.EOF:
            raise self.error(
                f"unexpected {self.describe(tok)} after a complete expression "
                "(expected &&, || or the end)",
                tok.pos,
            )
        return node

    def expression(self) -> Node:
        operands = [self.conjunction()]
        while self.tok.kind is _Kind.OR:
            self.advance()
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def conjunction(self) -> Node:
        operands = [self.unary()]
        while self.tok.kind is _Kind.AND:
            self.advance()
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self) -> Node:
        tok = self.tok
        if tok.kind is _Kind.NOT:
            self.advance()
            self.enter(tok)
            node: Node = Not(self.unary())
            self.depth -= 1
            return node
        if tok.kind is _Kind.LPAREN:
            self.advance()
            self.enter(tok)
            node = self.expression()
            close = self.tok
            if close.kind is _Kind.EOF:
                raise self.error("unclosed '('", tok.pos)
            if close.kind is not _Kind.RPAREN:
                raise self.error(f"expected &&, || or ')', got {self.describe(close)}", close.pos)
            self.advance()
            self.depth -= 1
            return node
        if tok.kind is _Kind.IDENT and tok.call:
            return self.call()
        raise self.error(
            f"expected a boolean expression (a function call), got {self.describe(tok)}",
            tok.pos,
        )

    def call(self) -> Call:
        name_tok = self.advance()
        name = name_tok.value
        if name not in _FUNCTION_ARITY:
            known = ", ".join(sorted(_FUNCTION_ARITY))
            raise self.error(f"unknown function {name!r}; known functions: {known}", name_tok.pos)
        open_tok = self.advance()  # the lexer only marks `call` when "(" follows
        args: list[Str | Var] = []
        if self.tok.kind is not _Kind.RPAREN:
            args.append(self.value())
            while self.tok.kind is _Kind.COMMA:
                self.advance()
                args.append(self.value())
        close = self.tok
        if close.kind is _Kind.EOF:
            raise self.error(f"unclosed '(' of {name}()", open_tok.pos)
        if close.kind is not _Kind.RPAREN:
            raise self.error(
                f"expected ',' or ')' in the arguments of {name}(), got {self.describe(close)}",
                close.pos,
            )
        self.advance()
        arity = _FUNCTION_ARITY[name]
        if len(args) != arity:
            raise self.error(f"{name}() takes {arity} arguments, got {len(args)}", name_tok.pos)
        if name == "regexp.match":
            pattern = args[1]
            if not isinstance(pattern, Str):
                raise self.error(
                    "the pattern of regexp.match() must be a string literal", pattern.pos
                )
            if problem := validate_pattern(pattern.value):
                raise self.error(problem, pattern.pos)
        return Call(name, tuple(args), name_tok.pos)

    def value(self) -> Str | Var:
        tok = self.tok
        if tok.kind is _Kind.STRING:
            self.advance()
            return Str(tok.value, tok.pos)
        if tok.kind is _Kind.IDENT and not tok.call:
            return self.variable()
        raise self.error(
            f"expected a value (a variable or a string literal), got {self.describe(tok)}",
            tok.pos,
        )

    def variable(self) -> Var:
        tok = self.advance()
        name = tok.value
        if name not in _ALL_VARIABLES:
            raise self.error(
                f"unknown variable {name!r}; allowed in a {self.scope} expression: "
                f"{_variable_list(self.allowed)}",
                tok.pos,
            )
        if name not in self.allowed:
            raise self.error(
                f"variable {name!r} is not allowed in a {self.scope} expression; allowed: "
                f"{_variable_list(self.allowed)}",
                tok.pos,
            )
        bracket = self.tok
        if name not in _INDEXED:
            if bracket.kind is _Kind.LBRACKET:
                raise self.error(f"{name} cannot be indexed", bracket.pos)
            return Var(name, None, tok.pos)
        if bracket.kind is not _Kind.LBRACKET:
            raise self.error(f'{name} must be indexed with a key, e.g. {name}["key"]', tok.pos)
        self.advance()
        key = self.tok
        if key.kind is not _Kind.STRING:
            raise self.error(
                f"the index of {name} must be a string literal, got {self.describe(key)}",
                key.pos,
            )
        self.advance()
        close = self.tok
        if close.kind is _Kind.EOF:
            raise self.error("unclosed '['", bracket.pos)
        if close.kind is not _Kind.RBRACKET:
            raise self.error(f"expected ']', got {self.describe(close)}", close.pos)
        self.advance()
        return Var(name, key.value, tok.pos)


@lru_cache(maxsize=1024)
def _parse(text: str, scope: str) -> Predicate:
    if len(text) > MAX_LENGTH:
        raise PredicateError(f"expression is longer than {MAX_LENGTH} characters", MAX_LENGTH, text)
    if not text.strip():
        raise PredicateError("empty expression", 0, text)
    return Predicate(text, scope, _Parser(text, scope).parse())


def parse(text: str, *, scope: str = "filter") -> Predicate:
    """Parse and validate `text` for `scope` ("filter", "where" or "notification");
    raises PredicateError."""
    if scope not in SCOPES:
        # A programming error, not a policy author's: deliberately not a PredicateError.
        raise ValueError(f"unknown predicate scope {scope!r}; expected one of {sorted(SCOPES)}")
    if not isinstance(text, str):
        raise TypeError(f"a predicate must be a str, not {type(text).__name__}")
    return _parse(text, scope)
