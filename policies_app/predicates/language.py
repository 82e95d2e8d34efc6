"""The vocabulary of the predicate language: limits, variables per scope, function arities,
and the one error every mistake is reported as."""

from __future__ import annotations

MAX_LENGTH = 4096
# Bounds the parser's recursion (a few Python frames per level) far below the interpreter's
# limit, so hostile input is refused with a PredicateError rather than a RecursionError.
MAX_DEPTH = 50

# Display order for messages; SCOPES below says which are usable where.
VARIABLE_ORDER = (
    "reviewer.roles",
    "reviewer.traits",
    "request.roles",
    "request.reason",
    "request.annotations",
    "review.reason",
    "request.user",
    "request.resources",
    "request.pending_for",
    "reviewer.kind",
    "user.roles",
    "user.traits",
    "now.weekday",
    "now.hour",
)
_REVIEW_VARIABLES = frozenset(VARIABLE_ORDER[:6])
SCOPES: dict[str, frozenset[str]] = {
    # reviewer.kind: "human", or "rule" for a review written by a review rule, so a set of
    # thresholds can ask for one human besides the rule (README "Review rules").
    "filter": _REVIEW_VARIABLES | {"reviewer.kind"},
    # `request.pending_for` is decided when someone reviews: a `where` only (a threshold's
    # filter is evaluated once, when the review is counted, so time would mean nothing new).
    "where": (_REVIEW_VARIABLES - {"review.reason"}) | {"request.pending_for"},
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
    # Review rules (kind: review_rule) look at the request, its requester and the clock.
    "review_rule": frozenset(
        {
            "request.roles",
            "request.reason",
            "request.annotations",
            "request.user",
            "request.resources",
            "user.roles",
            "user.traits",
            "now.weekday",
            "now.hour",
        }
    ),
}
ALL_VARIABLES = frozenset().union(*SCOPES.values())
# Maps of lists: only meaningful with a key, so a bare reference is a mistake.
INDEXED = frozenset({"reviewer.traits", "request.annotations", "user.traits"})
STRING_VARIABLES = frozenset(
    {"request.reason", "review.reason", "request.user", "reviewer.kind", "now.weekday", "now.hour"}
)
# Durations (seconds): only compared with a `duration("...")` literal, never passed to a
# function. `request.pending_for` is how long the request has been pending.
DURATION_VARIABLES = frozenset({"request.pending_for"})
COMPARISONS = ("<=", ">=", "<", ">")  # longest first, for the lexer
# duration("...") literals above this are refused: nothing stays pending longer than the
# 7-day pending ceiling, so a bigger one is a typo that would make a rule never hold.
MAX_DURATION_LITERAL = 30 * 86400

FUNCTION_ARITY = {"contains": 2, "equals": 2, "regexp.match": 2, "between": 3, "oncall": 1}
# Functions usable in some scopes only; the others are usable everywhere.
FUNCTION_SCOPES = {"oncall": frozenset({"review_rule"})}
# Arguments that must be string literals, by function: positions and what they hold.
LITERAL_ARGUMENTS = {"oncall": {0: "schedule name"}, "between": {1: "integer", 2: "integer"}}


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
