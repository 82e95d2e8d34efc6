"""Role-name matching: literals, `*` globs, `^regex$`, and invalid regexes matching nothing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies_app.matching import matches, matches_any, validate_pattern


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("dictator", "dictator", True),
        ("dictator", "dictators", False),
        ("dictator", "a-dictator", False),
        ("dictator", "Dictator", False),
        ("", "", True),
        ("", "x", False),
    ],
)
def test_a_pattern_without_wildcards_matches_only_the_same_name(pattern, value, expected):
    assert matches(pattern, value) is expected


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("db-*", "db-admin", True),
        ("db-*", "db-", True),  # `*` matches the empty run too
        ("db-*", "xdb-admin", False),
        ("*-admin", "db-admin", True),
        ("*-admin", "db-admin-2", False),
        ("db-*-rw", "db-prod-eu-rw", True),
        ("db-*-rw", "db-rw", False),
        ("*", "", True),
        ("*", "anything at all", True),
        ("a**b", "ab", True),
        ("a*b*c", "a-x-b-y-c", True),
        ("a*b*c", "acb", False),
    ],
)
def test_a_star_matches_any_run_of_characters_and_the_rest_is_anchored(pattern, value, expected):
    assert matches(pattern, value) is expected


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        ("db.prod", "dbXprod"),
        ("a+b", "aab"),
        ("dev-[a-z]", "dev-x"),
        ("(x|y)", "x"),
        ("^dev-.*", "dev-1"),  # starts with ^ but no closing $: still a glob, all literal
        ("dev-.*$", "dev-1"),
    ],
)
def test_regex_metacharacters_in_a_glob_are_literal(pattern, value):
    assert not matches(pattern, value)
    assert matches(pattern, pattern)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("^dev-[a-z]+$", "dev-abc", True),
        ("^dev-[a-z]+$", "dev-abc1", False),
        ("^dev-[a-z]+$", "xdev-abc", False),
        ("^dev-[a-z]+$", "dev-abc\n", False),  # fullmatch: `$` does not accept a newline
        ("^a$|^b$", "b", True),
        ("^(db|dev)-.*$", "db-admin", True),
        ("^$", "", True),
        ("^$", "x", False),
    ],
)
def test_a_caret_dollar_pattern_is_a_full_regular_expression(pattern, value, expected):
    assert matches(pattern, value) is expected


@pytest.mark.parametrize("pattern", ["^(dev$", "^[a-$", "^a**$", "^a{2,1}$"])
def test_an_invalid_regex_matches_nothing_and_does_not_raise(pattern):
    assert matches(pattern, "dev") is False
    assert matches(pattern, pattern) is False
    assert matches(pattern, "") is False


def test_validate_pattern_explains_an_invalid_regex():
    error = validate_pattern("^(dev$")
    assert error is not None
    assert "'^(dev$' is not a valid regular expression" in error
    assert "missing )" in error


def test_validate_pattern_shortens_a_long_invalid_regex_in_its_message():
    error = validate_pattern("^" + "(" * 500 + "$")
    assert error is not None
    assert len(error) < 200


@pytest.mark.parametrize("pattern", ["dev", "db-*", "*", "", "^dev-[a-z]+$", "(unbalanced", "^(x"])
def test_validate_pattern_accepts_globs_and_valid_regexes(pattern):
    assert validate_pattern(pattern) is None


def test_validate_pattern_survives_patterns_that_overwhelm_the_regex_parser():
    # RE2 parses deep nesting without recursion (Python's `re` overflowed on this one).
    deep = "^" + "(" * 5000 + "a" + ")" * 5000 + "$"
    assert validate_pattern(deep) is None and matches(deep, "a") is True
    # A pattern past RE2's size limits is refused, not compiled into gigabytes.
    huge = "^((a{100}){100}){100}$"
    assert isinstance(validate_pattern(huge), str)
    assert matches(huge, "a") is False


def test_matches_any_is_true_when_one_pattern_matches():
    assert matches_any(["dictator", "db-*", "^dev-[a-z]+$"], "dev-abc")
    assert matches_any(["dictator", "db-*"], "db-readers")
    assert not matches_any(["dictator", "db-*", "^(bad$"], "dev-abc")
    assert not matches_any([], "anything")


def test_matches_is_false_for_non_string_input_rather_than_raising():
    assert matches("*", None) is False  # type: ignore[arg-type]
    assert matches(None, "x") is False  # type: ignore[arg-type]


_names = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="*"), max_size=20)


@given(name=_names)
def test_property_a_wildcard_free_glob_matches_exactly_itself(name):
    if name.startswith("^") and name.endswith("$"):
        return  # that is a regex, covered elsewhere
    assert matches(name, name)
    assert not matches(name, name + "x")
    assert not matches(name, "x" + name)


@given(prefix=_names, suffix=st.text(max_size=20))
def test_property_a_prefix_glob_matches_every_extension(prefix, suffix):
    if prefix.startswith("^"):
        return
    assert matches(prefix + "*", prefix + suffix)


@given(pattern=st.text(max_size=30), value=st.text(max_size=30))
def test_property_matching_never_raises(pattern, value):
    assert isinstance(matches(pattern, value), bool)
    assert validate_pattern(pattern) is None or isinstance(validate_pattern(pattern), str)
