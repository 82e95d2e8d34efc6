"""The predicate language of threshold `filter`s and review `where`s, modelled on Teleport's.

    contains(reviewer.roles, "proletariat") && !equals(request.reason, "")

A hand-written tokenizer and recursive-descent parser turn the text into a tree of small
frozen dataclasses; nothing is ever passed to eval/exec. Grammar, loosest binding first:

    expression := and ("||" and)*
    and        := unary ("&&" unary)*
    unary      := "!" unary | "(" expression ")" | call | comparison
    call       := FUNCTION "(" [value ("," value)*] ")"
    value      := STRING | VARIABLE ["[" STRING "]"]
    comparison := duration ("<" | "<=" | ">" | ">=") duration   (one side each)
    duration   := "request.pending_for" | "duration" "(" STRING ")"

`request.pending_for` (how long the request has been pending, `where` only) is the one
duration variable: `request.pending_for > duration("2h")`.

Every mistake is a PredicateError carrying the 0-based offset it was found at. Evaluation is
total: odd context data (missing sections, None, wrong types) reads as "" or [].
"""

from policies_app.predicates.evaluator import Predicate
from policies_app.predicates.language import MAX_DEPTH, MAX_LENGTH, SCOPES, PredicateError
from policies_app.predicates.parser import parse

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "SCOPES", "Predicate", "PredicateError", "parse"]
