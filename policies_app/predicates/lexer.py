"""The predicate tokenizer: text in, tokens out, one at a time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from policies_app.predicates.language import COMPARISONS, PredicateError


class Kind(Enum):
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
    COMPARE = "comparison"
    EOF = "end"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    pos: int
    end: int
    value: str = ""  # decoded string, or the identifier
    call: bool = False  # an identifier directly followed by "(" (a function name)


_PUNCTUATION = {
    "(": Kind.LPAREN,
    ")": Kind.RPAREN,
    "[": Kind.LBRACKET,
    "]": Kind.RBRACKET,
    ",": Kind.COMMA,
    "!": Kind.NOT,
}
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
# ASCII only on purpose: look-alike Unicode letters must not sneak into names.
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


class Lexer:
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

    def next(self) -> Token:
        text = self.text
        i = self._skip_space(self.i)
        if i >= len(text):
            self.i = i
            return Token(Kind.EOF, i, i)
        ch = text[i]
        for op, kind in (("&&", Kind.AND), ("||", Kind.OR)):
            if text.startswith(op, i):
                self.i = i + 2
                return Token(kind, i, i + 2, op)
        for op in COMPARISONS:
            if text.startswith(op, i):
                self.i = i + len(op)
                return Token(Kind.COMPARE, i, i + len(op), op)
        if ch in _PUNCTUATION:
            self.i = i + 1
            return Token(_PUNCTUATION[ch], i, i + 1, ch)
        if ch == '"':
            return self._string(i)
        if ch == "'":
            raise self._error("single-quoted strings are not allowed; use double quotes", i)
        if m := _IDENT_RE.match(text, i):
            self.i = m.end()
            after = self._skip_space(m.end())
            call = after < len(text) and text[after] == "("
            return Token(Kind.IDENT, i, m.end(), m.group(), call)
        hint = {
            "&": " (did you mean '&&'?)",
            "|": " (did you mean '||'?)",
            "=": " (comparisons are <, <=, > and >=; use equals(a, b) for text)",
        }.get(ch, "")
        raise self._error(f"unexpected character {ch!r}{hint}", i)

    def _string(self, start: int) -> Token:
        text, n = self.text, len(self.text)
        chars: list[str] = []
        i = start + 1
        while i < n:
            ch = text[i]
            if ch == '"':
                self.i = i + 1
                return Token(Kind.STRING, start, i + 1, "".join(chars))
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
