"""Hostile predicates: any text parses to a Predicate or is refused with a PredicateError,
and a Predicate evaluates to a bool on any context whatsoever, never raising."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies_app.predicates import MAX_LENGTH, SCOPES, Predicate, PredicateError, parse
from tests.policies_app.test_predicates import _expressions, _token_soup

# Anything a JSON column, a YAML file or a careless caller could put in a context.
_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.builds(lambda: 10**5000),  # past the int-to-str limit (st.just would repr it)
    st.floats(),  # nan and infinities included
    st.text(max_size=12),
    st.binary(max_size=6),
    st.sampled_from(["\x00", "\ud800", "\u202e", "😀", "proletariat", "pay"]),
)
_anything = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.frozensets(st.one_of(st.text(max_size=4), st.integers()), max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=4),
    ),
    max_leaves=30,
)
_known = st.sampled_from(["roles", "traits", "reason", "annotations", "team", "k", ""])
_sections = st.dictionaries(
    st.one_of(_known, st.text(max_size=6)),
    st.one_of(_anything, st.dictionaries(_known, _anything, max_size=4)),
    max_size=5,
)
_contexts = st.one_of(
    _anything,
    st.dictionaries(
        st.one_of(st.sampled_from(["reviewer", "request", "review"]), st.text(max_size=6)),
        st.one_of(_anything, _sections),
        max_size=4,
    ),
)

_ALL_CHARS = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()), max_size=300
)  # surrogates and NUL included


def _parse_or_refuse(text: str, scope: str) -> Predicate | None:
    try:
        return parse(text, scope=scope)
    except PredicateError as err:
        assert 0 <= err.position <= max(len(text), MAX_LENGTH)
        assert err.message and str(err)
        return None


@settings(max_examples=200, deadline=None)
@given(
    text=st.one_of(_ALL_CHARS, _token_soup),
    scope=st.sampled_from(sorted(SCOPES)),
    ctx=_contexts,
)
def test_property_any_text_is_refused_or_evaluates_on_any_context(text, scope, ctx):
    predicate = _parse_or_refuse(text, scope)
    if predicate is not None:
        assert isinstance(predicate.evaluate(ctx), bool)


@settings(max_examples=200, deadline=None)
@given(text=_expressions(), ctx=_contexts)
def test_property_valid_predicates_evaluate_to_a_bool_on_any_context(text, ctx):
    assert isinstance(parse(text, scope="filter").evaluate(ctx), bool)


@pytest.mark.parametrize(
    "text",
    [
        "(" * 100_000,
        "!" * 100_000 + 'equals("a", "a")',
        "(" * 60 + 'equals("a", "a")' + ")" * 60,
        'equals("a", "a") && ' * 2000 + 'equals("a", "a")',  # longer than MAX_LENGTH
        '"' + "\\" * 5000,
        "equals(" * 3000,
        "\x00",
        "\ud800",
        'equals(request.reason, "\x00")\x00',
    ],
    ids=lambda t: repr(t[:24]),
)
def test_hostile_predicate_texts_are_refused_with_a_position(text):
    with pytest.raises(PredicateError) as refused:
        parse(text, scope="filter")
    assert 0 <= refused.value.position <= len(text)


def test_deep_nesting_is_refused_well_below_the_interpreter_limit():
    assert sys.getrecursionlimit() >= 1000
    with pytest.raises(PredicateError, match="nested deeper"):
        parse("!" * 51 + 'equals("a", "a")', scope="filter")


@pytest.mark.parametrize(
    "ctx",
    [
        {"reviewer": {"traits": {"team": 10**5000}}},
        {"reviewer": {"roles": [10**5000, "proletariat"]}},
        {"request": {"reason": 10**5000}},
        {"request": {"annotations": {"k": float("nan")}}},
        {"reviewer": {"roles": ("proletariat",)}},
        {"reviewer": {"roles": {"proletariat": 1}}},
        {"reviewer": None, "request": [], "review": "x"},
        [],
        None,
    ],
)
def test_odd_contexts_read_as_empty_or_text(ctx):
    text = (
        'contains(reviewer.roles, "proletariat") || equals(reviewer.traits["team"], "pay") '
        '|| regexp.match(request.annotations["k"], "^n.*$") || equals(request.reason, "1")'
    )
    assert isinstance(parse(text, scope="filter").evaluate(ctx), bool)


_REDOS = """
from policies_app.predicates import parse
reason = "a" * 4096 + "!"
for pattern in ["^(a+)+$", "^(a|aa)*$", "^(.*a){20}$", "*a*a*a*a*a*a*a*a*a*a*b"]:
    predicate = parse(f'regexp.match(request.reason, "{pattern}")', scope="where")
    assert predicate.evaluate({"request": {"reason": reason}}) is False
print("done")
"""


def test_a_requesters_reason_cannot_make_a_policy_regex_backtrack_forever():
    """Catastrophic-backtracking patterns against a maximal hostile reason. On a
    backtracking engine this runs for longer than the universe; matching is RE2 (linear),
    so it finishes at once. The subprocess timeout is a watchdog against a hang, not a
    performance measurement."""
    result = subprocess.run(
        [sys.executable, "-c", _REDOS],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and result.stdout.strip() == "done", result.stderr


@pytest.mark.parametrize("pattern", ["^(?=a).*$", "^(a)\\\\1$", "^a{1001}$"])
def test_patterns_a_linear_time_engine_cannot_run_are_refused_at_load(pattern):
    with pytest.raises(PredicateError, match="not a valid regular expression"):
        parse(f'regexp.match(request.reason, "{pattern}")', scope="where")
