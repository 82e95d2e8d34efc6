"""The recursive-descent parser: tokens in, a validated Predicate out (see the package
docstring for the grammar)."""

from __future__ import annotations

from functools import lru_cache

from policies_app.durations import DurationError, format_duration, parse_duration
from policies_app.matching import validate_pattern
from policies_app.predicates.evaluator import (
    And,
    Call,
    Compare,
    Node,
    Not,
    Or,
    Predicate,
    Str,
    Var,
    is_ascii_integer,
)
from policies_app.predicates.language import (
    ALL_VARIABLES,
    DURATION_VARIABLES,
    FUNCTION_ARITY,
    FUNCTION_SCOPES,
    INDEXED,
    LITERAL_ARGUMENTS,
    MAX_DEPTH,
    MAX_DURATION_LITERAL,
    MAX_LENGTH,
    SCOPES,
    VARIABLE_ORDER,
    PredicateError,
)
from policies_app.predicates.lexer import Kind, Lexer, Token


def _variable_list(names: frozenset[str]) -> str:
    return ", ".join(
        f'{name}["..."]' if name in INDEXED else name for name in VARIABLE_ORDER if name in names
    )


class Parser:
    def __init__(self, text: str, scope: str) -> None:
        self.text = text
        self.scope = scope
        self.allowed = SCOPES[scope]
        self.lexer = Lexer(text)
        self.tok = self.lexer.next()
        self.depth = 0

    def error(self, message: str, position: int) -> PredicateError:
        return PredicateError(message, position, self.text)

    def advance(self) -> Token:
        tok = self.tok
        self.tok = self.lexer.next()
        return tok

    def describe(self, tok: Token) -> str:
        if tok.kind is Kind.EOF:
            return "the end of the expression"
        if tok.kind is Kind.IDENT:
            return f"{tok.value}(...)" if tok.call else tok.value
        if tok.kind is Kind.STRING:
            source = self.text[tok.pos : tok.end]
            return source if len(source) <= 40 else source[:37] + '..."'
        return f"'{tok.value}'"

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"expression is nested deeper than {MAX_DEPTH} levels", tok.pos)

    def parse(self) -> Node:
        node = self.expression()
        tok = self.tok
        if tok.kind is Kind.RPAREN:
            raise self.error("unmatched ')'", tok.pos)
        if tok.kind is not Kind.EOF:
            raise self.error(
                f"unexpected {self.describe(tok)} after a complete expression "
                "(expected &&, || or the end)",
                tok.pos,
            )
        return node

    def expression(self) -> Node:
        operands = [self.conjunction()]
        while self.tok.kind is Kind.OR:
            self.advance()
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def conjunction(self) -> Node:
        operands = [self.unary()]
        while self.tok.kind is Kind.AND:
            self.advance()
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self) -> Node:
        tok = self.tok
        if tok.kind is Kind.NOT:
            self.advance()
            self.enter(tok)
            node: Node = Not(self.unary())
            self.depth -= 1
            return node
        if tok.kind is Kind.LPAREN:
            self.advance()
            self.enter(tok)
            node = self.expression()
            close = self.tok
            if close.kind is Kind.EOF:
                raise self.error("unclosed '('", tok.pos)
            if close.kind is not Kind.RPAREN:
                raise self.error(f"expected &&, || or ')', got {self.describe(close)}", close.pos)
            self.advance()
            self.depth -= 1
            return node
        if tok.kind is Kind.IDENT and (
            (tok.call and tok.value == "duration")
            or (not tok.call and tok.value in DURATION_VARIABLES)
        ):
            return self.comparison()
        if tok.kind is Kind.IDENT and tok.call:
            return self.call()
        what = "a function call"
        if self.allowed & DURATION_VARIABLES:
            what += ' or a comparison such as request.pending_for > duration("2h")'
        raise self.error(
            f"expected a boolean expression ({what}), got {self.describe(tok)}", tok.pos
        )

    def comparison(self) -> Compare:
        """`request.pending_for OP duration("...")`, either way round; OP is <, <=, >, >=."""
        start = self.tok
        left = self.duration_operand()
        op = self.tok
        if op.kind is not Kind.COMPARE:
            raise self.error(
                f"expected <, <=, > or >= after {self.text[start.pos : start.end]}, "
                f"got {self.describe(op)}",
                op.pos,
            )
        self.advance()
        right = self.duration_operand()
        if isinstance(left, Var) == isinstance(right, Var):
            raise self.error(
                "compare request.pending_for with a duration, e.g. "
                'request.pending_for > duration("2h")',
                start.pos,
            )
        if isinstance(left, Var):
            return Compare(left.name, op.value, right, start.pos)
        flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}[op.value]
        return Compare(right.name, flipped, left, start.pos)

    def duration_operand(self) -> Var | int:
        """A duration variable, or a `duration("...")` literal's seconds."""
        tok = self.tok
        if tok.kind is Kind.IDENT and tok.call and tok.value == "duration":
            return self.duration_literal()
        if tok.kind is Kind.IDENT and not tok.call:
            var = self.variable()
            if var.name not in DURATION_VARIABLES:
                raise self.error(
                    f"{var.name} is not a duration; only request.pending_for can be compared",
                    var.pos,
                )
            return var
        raise self.error(
            f'expected request.pending_for or duration("..."), got {self.describe(tok)}',
            tok.pos,
        )

    def duration_literal(self) -> int:
        name_tok = self.advance()
        self.advance()  # "(": the lexer only marks `call` when it follows
        arg = self.tok
        if arg.kind is not Kind.STRING:
            raise self.error(
                f'duration() takes one string literal such as "2h", got {self.describe(arg)}',
                arg.pos,
            )
        self.advance()
        close = self.tok
        if close.kind is Kind.EOF:
            raise self.error("unclosed '(' of duration()", name_tok.end)
        if close.kind is not Kind.RPAREN:
            raise self.error(
                f"duration() takes one argument; expected ')', got {self.describe(close)}",
                close.pos,
            )
        self.advance()
        try:
            seconds = parse_duration(arg.value)
        except DurationError as err:
            raise self.error(str(err), arg.pos) from None
        if seconds > MAX_DURATION_LITERAL:
            raise self.error(
                f"duration() is at most {format_duration(MAX_DURATION_LITERAL)} "
                "(nothing stays pending that long)",
                arg.pos,
            )
        return seconds

    def call(self) -> Call:
        name_tok = self.advance()
        name = name_tok.value
        if name not in FUNCTION_ARITY:
            known = ", ".join(
                sorted(
                    f for f in FUNCTION_ARITY if self.scope in FUNCTION_SCOPES.get(f, {self.scope})
                )
            )
            raise self.error(f"unknown function {name!r}; known functions: {known}", name_tok.pos)
        if name in FUNCTION_SCOPES and self.scope not in FUNCTION_SCOPES[name]:
            where = ", ".join(sorted(FUNCTION_SCOPES[name]))
            raise self.error(
                f"{name}() is not allowed in a {self.scope} expression (only in: {where})",
                name_tok.pos,
            )
        open_tok = self.advance()  # the lexer only marks `call` when "(" follows
        args: list[Str | Var] = []
        if self.tok.kind is not Kind.RPAREN:
            args.append(self.value())
            while self.tok.kind is Kind.COMMA:
                self.advance()
                args.append(self.value())
        close = self.tok
        if close.kind is Kind.EOF:
            raise self.error(f"unclosed '(' of {name}()", open_tok.pos)
        if close.kind is not Kind.RPAREN:
            raise self.error(
                f"expected ',' or ')' in the arguments of {name}(), got {self.describe(close)}",
                close.pos,
            )
        self.advance()
        arity = FUNCTION_ARITY[name]
        if len(args) != arity:
            raise self.error(f"{name}() takes {arity} arguments, got {len(args)}", name_tok.pos)
        for index, what in LITERAL_ARGUMENTS.get(name, {}).items():
            arg = args[index]
            if not isinstance(arg, Str):
                raise self.error(
                    f"argument {index + 1} of {name}() must be a string literal ({what})", arg.pos
                )
            if what == "integer" and not is_ascii_integer(arg.value):
                raise self.error(
                    f'argument {index + 1} of {name}() must be a whole number in quotes, e.g. "9"',
                    arg.pos,
                )
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
        if tok.kind is Kind.STRING:
            self.advance()
            return Str(tok.value, tok.pos)
        if tok.kind is Kind.IDENT and not tok.call:
            var = self.variable()
            if var.name in DURATION_VARIABLES:
                raise self.error(
                    f"{var.name} is a duration: compare it instead, e.g. "
                    f'{var.name} > duration("2h")',
                    var.pos,
                )
            return var
        raise self.error(
            f"expected a value (a variable or a string literal), got {self.describe(tok)}",
            tok.pos,
        )

    def variable(self) -> Var:
        tok = self.advance()
        name = tok.value
        if name not in ALL_VARIABLES:
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
        if name not in INDEXED:
            if bracket.kind is Kind.LBRACKET:
                raise self.error(f"{name} cannot be indexed", bracket.pos)
            return Var(name, None, tok.pos)
        if bracket.kind is not Kind.LBRACKET:
            raise self.error(f'{name} must be indexed with a key, e.g. {name}["key"]', tok.pos)
        self.advance()
        key = self.tok
        if key.kind is not Kind.STRING:
            raise self.error(
                f"the index of {name} must be a string literal, got {self.describe(key)}",
                key.pos,
            )
        self.advance()
        close = self.tok
        if close.kind is Kind.EOF:
            raise self.error("unclosed '['", bracket.pos)
        if close.kind is not Kind.RBRACKET:
            raise self.error(f"expected ']', got {self.describe(close)}", close.pos)
        self.advance()
        return Var(name, key.value, tok.pos)


@lru_cache(maxsize=1024)
def _parse(text: str, scope: str) -> Predicate:
    if len(text) > MAX_LENGTH:
        raise PredicateError(f"expression is longer than {MAX_LENGTH} characters", MAX_LENGTH, text)
    if not text.strip():
        raise PredicateError("empty expression", 0, text)
    return Predicate(text, scope, Parser(text, scope).parse())


def parse(text: str, *, scope: str = "filter") -> Predicate:
    """Parse and validate `text` for `scope` ("filter", "where" or "notification");
    raises PredicateError."""
    if scope not in SCOPES:
        # A programming error, not a policy author's: deliberately not a PredicateError.
        raise ValueError(f"unknown predicate scope {scope!r}; expected one of {sorted(SCOPES)}")
    if not isinstance(text, str):
        raise TypeError(f"a predicate must be a str, not {type(text).__name__}")
    return _parse(text, scope)
