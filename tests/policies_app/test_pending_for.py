"""`request.pending_for` compared with `duration("...")`: how long a request has waited, in a
review rule's `where`. Parsed by the same parser, refused with pointed errors, total over
hostile contexts (the style of test_hostile_predicates.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies_app.predicates import PredicateError, parse

H = 3600


def waited(seconds, text: str = 'request.pending_for > duration("2h")') -> bool:
    return parse(text, scope="where").evaluate({"request": {"pending_for": seconds}})


@pytest.mark.parametrize(
    ("text", "before", "at", "after"),
    [
        ('request.pending_for > duration("2h")', False, False, True),
        ('request.pending_for >= duration("2h")', False, True, True),
        ('request.pending_for < duration("2h")', True, False, False),
        ('request.pending_for <= duration("2h")', True, True, False),
        # Either way round: the literal on the left reads as the mirrored comparison.
        ('duration("2h") < request.pending_for', False, False, True),
        ('duration("2h") >= request.pending_for', True, True, False),
        ('duration("1h30m") <request.pending_for', False, False, True),
    ],
)
def test_comparisons_hold_before_at_and_after_the_threshold(text, before, at, after):
    threshold = 5400 if "1h30m" in text else 2 * H
    assert (
        waited(threshold - 1, text),
        waited(threshold, text),
        waited(threshold + 1, text),
    ) == (before, at, after)


def test_a_comparison_combines_with_the_other_functions():
    text = (
        '(contains(reviewer.roles, "db-lead") || request.pending_for > duration("2h")) '
        '&& !equals(request.reason, "")'
    )
    predicate = parse(text, scope="where")
    ctx = {"reviewer": {"roles": ["sre"]}, "request": {"reason": "PAY-1", "pending_for": 60}}
    assert predicate.evaluate(ctx) is False
    assert predicate.evaluate({**ctx, "request": {**ctx["request"], "pending_for": 3 * H}})
    assert predicate.evaluate({**ctx, "reviewer": {"roles": ["db-lead"]}})


def test_the_thresholds_a_predicate_compares_with_are_known():
    predicate = parse(
        'request.pending_for > duration("2h") || (duration("30m") >= request.pending_for '
        '&& contains(reviewer.roles, "x"))',
        scope="where",
    )
    assert predicate.duration_bounds() == {2 * H, 1800}
    assert parse('contains(reviewer.roles, "x")', scope="where").duration_bounds() == set()


def error_of(text: str, scope: str = "where") -> PredicateError:
    with pytest.raises(PredicateError) as info:
        parse(text, scope=scope)
    return info.value


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        (
            'request.pending_for > "2h"',
            22,
            'expected request.pending_for or duration("..."), got "2h"',
        ),
        ("request.pending_for > 7200", 22, "unexpected character '7'"),
        ('request.pending_for duration("2h")', 20, "expected <, <=, > or >= after"),
        ('request.pending_for == duration("2h")', 20, "comparisons are <, <=, > and >="),
        ('request.pending_for != duration("2h")', 20, "expected <, <=, > or >= after"),
        ('duration("2h") > duration("1h")', 0, "compare request.pending_for with a duration"),
        (
            "request.pending_for > request.pending_for",
            0,
            "compare request.pending_for with a duration",
        ),
        ('request.reason > duration("2h")', 0, "expected a boolean expression"),
        ('duration("2h") > request.reason', 17, "request.reason is not a duration"),
        ('request.pending_for > duration("2 hours")', 31, "'2 hours' is not a duration"),
        ('request.pending_for > duration("0s")', 31, "a duration must be positive"),
        ('request.pending_for > duration("31d")', 31, "duration() is at most 30d"),
        ('request.pending_for > duration("' + "9" * 40 + '")', 31, "too long"),
        ('request.pending_for > duration("2h"', 30, "unclosed '(' of duration()"),
        ('request.pending_for > duration("2h", "3h")', 35, "duration() takes one argument"),
        ("request.pending_for > duration(request.reason)", 31, "takes one string literal"),
        ("request.pending_for > duration()", 31, "takes one string literal"),
        (
            'contains(request.pending_for, "2h")',
            9,
            "request.pending_for is a duration: compare it instead",
        ),
        ('equals(duration("2h"), "x")', 7, "expected a value"),
        ("request.pending_for", 19, "expected <, <=, > or >= after request.pending_for"),
        ('request.pending_for["k"] > duration("2h")', 19, "cannot be indexed"),
        (
            'request.pending_for > duration("2h") > duration("3h")',
            37,
            "unexpected '>' after a complete expression",
        ),
    ],
)
def test_mistakes_are_refused_where_they_are(text, position, message):
    err = error_of(text)
    assert message in err.message
    assert err.position == position


@pytest.mark.parametrize("scope", ["filter", "notification"])
def test_pending_for_is_a_where_variable_only(scope):
    err = error_of('request.pending_for > duration("2h")', scope=scope)
    assert f"'request.pending_for' is not allowed in a {scope} expression" in err.message
    assert err.position == 0


@pytest.mark.parametrize(
    "value",
    [None, "7200", [7200], True, float("nan"), float("inf"), -1, 10**5000, {"s": 1}],
    ids=lambda v: type(v).__name__,
)
def test_a_pending_for_that_is_not_a_duration_fails_closed(value):
    assert waited(value) is False
    assert waited(value, 'request.pending_for < duration("2h")') is False


_durations = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=200, deadline=None)
@given(
    op=st.sampled_from(["<", "<=", ">", ">="]),
    literal=st.text(max_size=10),
    value=_durations,
)
def test_property_any_literal_is_refused_or_compares_to_a_bool(op, literal, value):
    text = f"request.pending_for {op} duration({literal!r})".replace("'", '"')
    try:
        predicate = parse(text, scope="where")
    except PredicateError as err:
        assert 0 <= err.position <= len(text)
        return
    assert isinstance(predicate.evaluate({"request": {"pending_for": value}}), bool)
