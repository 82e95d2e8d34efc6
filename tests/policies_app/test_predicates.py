"""The predicate language: functions, operators, variables and scopes, every parse error with
its position, and properties that hold for any input (never a stray exception)."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies_app.predicates import MAX_DEPTH, MAX_LENGTH, SCOPES, Predicate, PredicateError, parse

CTX = {
    "reviewer": {"roles": ["proletariat", "auditor"], "traits": {"team": ["pay", "core"]}},
    "request": {
        "roles": ["db-admin"],
        "reason": "ticket PAY-42: fix the ledger",
        "annotations": {"mechanism": ["uprising"]},
    },
    "review": {"reason": "looks fine"},
}

T = 'equals("a", "a")'  # true
F = 'equals("a", "b")'  # false


def holds(text: str, ctx=CTX, scope: str = "filter") -> bool:
    return parse(text, scope=scope).evaluate(ctx)


def error_of(text: str, scope: str = "filter") -> PredicateError:
    with pytest.raises(PredicateError) as info:
        parse(text, scope=scope)
    return info.value


# --- the examples from the policy documentation ---------------------------------------------


def test_contains_reviewer_roles_proletariat_holds_for_a_proletarian_reviewer():
    assert holds('contains(reviewer.roles, "proletariat")')
    assert not holds('contains(reviewer.roles, "proletariat")', {"reviewer": {"roles": ["boss"]}})


def test_contains_request_annotation_mechanism_uprising():
    text = 'contains(request.annotations["mechanism"], "uprising")'
    assert holds(text, scope="where")
    consensus = {"request": {"annotations": {"mechanism": ["consensus"]}}}
    assert not holds(text, consensus, scope="where")


# --- equals ---------------------------------------------------------------------------------


def test_equals_compares_two_strings_exactly():
    assert holds('equals(review.reason, "looks fine")')
    assert not holds('equals(review.reason, "Looks fine")')
    assert holds('equals("x", "x")')


def test_equals_a_list_and_a_string_holds_only_for_that_single_element_list():
    assert holds('equals(request.roles, "db-admin")')
    assert holds('equals("db-admin", request.roles)')
    two_roles = {"request": {"roles": ["db-admin", "dev-admin"]}}
    assert not holds('equals(request.roles, "db-admin")', two_roles)


def test_equals_two_lists_compares_them_as_lists():
    same = {"reviewer": {"roles": ["a", "b"]}, "request": {"roles": ["a", "b"]}}
    swapped = {"reviewer": {"roles": ["a", "b"]}, "request": {"roles": ["b", "a"]}}
    assert holds("equals(reviewer.roles, request.roles)", same)
    assert not holds("equals(reviewer.roles, request.roles)", swapped)
    assert holds('equals(reviewer.traits["team"], reviewer.traits["team"])')


# --- contains -------------------------------------------------------------------------------


def test_contains_on_a_list_tests_membership_not_substrings():
    assert holds('contains(reviewer.traits["team"], "pay")')
    assert not holds('contains(reviewer.traits["team"], "pa")')
    assert not holds('contains(reviewer.roles, "prolet")')


def test_contains_on_a_string_tests_for_a_substring():
    assert holds('contains(request.reason, "PAY-42")')
    assert holds('contains(request.reason, "")')
    assert not holds('contains(request.reason, "PAY-43")')


def test_contains_with_a_list_needle_requires_every_element():
    ctx = {"reviewer": {"roles": ["a", "b", "c"]}, "request": {"roles": ["a", "c"]}}
    assert holds("contains(reviewer.roles, request.roles)", ctx)
    ctx = {"reviewer": {"roles": ["a", "b"]}, "request": {"roles": ["a", "c"]}}
    assert not holds("contains(reviewer.roles, request.roles)", ctx)
    ctx = {"request": {"reason": "needs db and dev", "roles": ["db", "dev"]}}
    assert holds("contains(request.reason, request.roles)", ctx)


def test_contains_with_an_empty_list_needle_is_false_so_missing_data_never_grants():
    assert not holds('contains(reviewer.roles, request.annotations["missing"])')
    assert not holds('contains(request.reason, reviewer.traits["missing"])')


# --- regexp.match ---------------------------------------------------------------------------


def test_regexp_match_on_a_list_holds_when_any_element_matches_a_glob():
    assert holds('regexp.match(reviewer.roles, "prole*")')
    assert holds('regexp.match(reviewer.roles, "*tor")')
    assert not holds('regexp.match(reviewer.roles, "prole")')


def test_regexp_match_on_a_string_matches_the_whole_string():
    assert holds('regexp.match(request.reason, "ticket PAY-*")')
    assert not holds('regexp.match(request.reason, "PAY-*")')


def test_regexp_match_with_a_caret_dollar_pattern_is_a_full_regex():
    assert holds(r'regexp.match(request.roles, "^(db|dev)-[a-z]+$")')
    assert not holds(r'regexp.match(request.roles, "^db$")')
    assert holds(r'regexp.match(request.reason, "^ticket [A-Z]+-[0-9]+: .*$")')


def test_regexp_match_on_an_empty_list_is_false():
    assert not holds('regexp.match(reviewer.traits["missing"], "*")')


# --- operators ------------------------------------------------------------------------------


def test_and_binds_tighter_than_or():
    assert holds(f"{T} || {F} && {F}")  # T || (F && F)
    assert not holds(f"({T} || {F}) && {F}")
    assert holds(f"{F} && {F} || {T}")  # (F && F) || T


def test_not_binds_tighter_than_and_and_or():
    assert not holds(f"!{F} && {F}")  # (!F) && F, not !(F && F)
    assert holds(f"!({F} && {F})")
    assert holds(f"!{T} || {T}")  # (!T) || T, not !(T || T)
    assert not holds(f"!({T} || {T})")


def test_not_can_be_repeated_and_parentheses_nest():
    assert holds(f"!!{T}")
    assert not holds(f"!!!{T}")
    assert holds(f"((({T})))")
    assert holds(f"!(!({T}) && ({T} || {F}))")


def test_long_chains_of_and_and_or_evaluate_without_deep_recursion():
    chain = " && ".join([T] * 200)
    assert len(chain) <= MAX_LENGTH
    assert holds(chain)
    assert not holds(chain + " && " + F)
    assert holds(" || ".join([F] * 200) + " || " + T)


def test_whitespace_is_allowed_anywhere_between_tokens():
    text = '\n contains (\treviewer.traits [ "team" ] ,\r\n"pay" )\n&&!\nequals(review.reason,"")  '
    assert holds(text)


def test_string_literals_understand_backslash_escapes():
    ctx = {"request": {"reason": 'a "quoted" \\ word\n\tindented'}}
    assert holds(r'equals(request.reason, "a \"quoted\" \\ word\n\tindented")', ctx)


# --- variables and the evaluation context ---------------------------------------------------


def test_a_missing_trait_key_is_an_empty_list():
    assert holds('equals(reviewer.traits["missing"], request.annotations["missing"])')
    assert not holds('contains(reviewer.traits["missing"], "pay")')
    assert not holds('equals(reviewer.traits["missing"], "")')


def test_missing_sections_read_as_empty_lists_and_empty_reasons():
    assert holds('equals(request.reason, "") && equals(review.reason, "")', {})
    assert holds("equals(request.roles, reviewer.roles)", {})
    assert not holds('contains(reviewer.roles, "proletariat")', {})


def test_odd_context_data_is_read_as_empty_rather_than_raising():
    odd = {
        "reviewer": None,
        "request": {"roles": None, "reason": None, "annotations": {"mechanism": None}},
        "review": ["not", "a", "mapping"],
    }
    assert holds('equals(request.reason, "") && equals(review.reason, "")', odd)
    assert not holds('contains(request.annotations["mechanism"], "uprising")', odd)
    weird = {"reviewer": {"roles": ["a", None, 3, ["nested"]], "traits": "team"}}
    assert holds('contains(reviewer.roles, "a") && contains(reviewer.roles, "3")', weird)
    assert not holds('contains(reviewer.traits["team"], "pay")', weird)
    assert parse(T).evaluate(None) is True  # type: ignore[arg-type]


def test_evaluate_returns_a_real_bool():
    assert parse(T).evaluate(CTX) is True
    assert parse(F).evaluate(CTX) is False


# --- scopes ---------------------------------------------------------------------------------


def test_review_reason_is_allowed_in_a_filter_but_refused_in_a_where():
    assert holds('equals(review.reason, "looks fine")', scope="filter")
    err = error_of('equals(review.reason, "looks fine")', scope="where")
    assert err.position == 7
    assert "'review.reason' is not allowed in a where expression" in err.message
    assert "review.reason" not in err.message.split("allowed:")[1]


def test_scopes_list_the_variables_they_allow():
    # reviewer.kind tells rule reviews from people's; a `where` only ever judges people.
    assert SCOPES["filter"] - SCOPES["where"] == {"review.reason", "reviewer.kind"}
    # Decided when someone reviews: a `where` only.
    assert SCOPES["where"] - SCOPES["filter"] == {"request.pending_for"}


def test_an_unknown_scope_is_a_programming_error_not_a_predicate_error():
    with pytest.raises(ValueError) as info:
        parse(T, scope="everywhere")
    assert not isinstance(info.value, PredicateError)


# --- errors, each with its exact position ---------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t  \n"])
def test_an_empty_expression_is_refused_at_position_zero(text):
    err = error_of(text)
    assert (err.message, err.position) == ("empty expression", 0)


def test_an_unexpected_character_is_refused_with_its_position():
    err = error_of('equals("a", "a") @ x')
    assert err.position == 17
    assert err.message == "unexpected character '@'"


def test_a_single_ampersand_suggests_the_double_one():
    err = error_of(f"{T} & {T}")
    assert err.position == 17
    assert "did you mean '&&'?" in err.message
    assert error_of(f"{T} | {T}").position == 17


def test_an_unterminated_string_is_refused_at_its_opening_quote():
    err = error_of('equals(request.reason, "abc')
    assert (err.message, err.position) == ("unterminated string", 23)
    assert error_of(r'equals(request.reason, "abc\"').position == 23  # an escaped quote


def test_single_quoted_strings_are_refused():
    err = error_of("equals(request.reason, 'x')")
    assert err.position == 23
    assert "single-quoted strings are not allowed" in err.message


def test_an_unknown_escape_sequence_is_refused_at_its_backslash():
    err = error_of(r'equals(request.reason, "a\d")')
    assert err.position == 25
    assert "invalid escape sequence \\d" in err.message


def test_unknown_function_is_refused_with_its_position():
    err = error_of(f'{T} && frobnicate(request.roles, "x")')
    assert err.position == 20
    assert "unknown function 'frobnicate'" in err.message
    assert "contains, equals, regexp.match" in err.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("equals(request.reason)", "equals() takes 2 arguments, got 1"),
        ('contains("a", "b", "c")', "contains() takes 2 arguments, got 3"),
        ("regexp.match()", "regexp.match() takes 2 arguments, got 0"),
    ],
)
def test_a_wrong_number_of_arguments_is_refused_at_the_function_name(text, message):
    err = error_of(f"{T} || {text}")
    assert (err.message, err.position) == (message, 20)


def test_an_unknown_variable_is_named_with_the_allowed_ones():
    err = error_of('contains(reviewer.groups, "x")', scope="where")
    assert err.position == 9
    assert err.message.startswith("unknown variable 'reviewer.groups'; allowed in a where")
    for name in ("reviewer.roles", 'reviewer.traits["..."]', "request.reason"):
        assert name in err.message
    assert error_of('equals(reviewer, "x")').position == 7


def test_indexing_a_variable_that_is_not_a_map_is_refused_at_the_bracket():
    err = error_of('equals(request.roles["x"], "y")')
    assert (err.message, err.position) == ("request.roles cannot be indexed", 20)
    assert error_of('equals(review.reason["x"], "y")').position == 20


def test_a_map_variable_without_an_index_is_refused():
    err = error_of('contains(reviewer.traits, "pay")')
    assert err.position == 9
    assert err.message.startswith("reviewer.traits must be indexed")
    assert error_of('contains(request.annotations, "x")', scope="where").position == 9


def test_an_index_must_be_a_string_literal():
    err = error_of('contains(reviewer.traits[team], "pay")')
    assert err.position == 25
    assert "must be a string literal" in err.message
    assert error_of('contains(reviewer.traits["team", "pay")').position == 31
    assert error_of('contains(reviewer.traits["team"').position == 24


@pytest.mark.parametrize(
    ("text", "position", "got"),
    [
        ("reviewer.roles", 0, "reviewer.roles"),
        ('"yes"', 0, '"yes"'),
        (f"{T} && request.reason", 20, "request.reason"),
        (f'{T} || "x"', 20, '"x"'),
        ('!"x"', 1, '"x"'),
        ("(request.roles)", 1, "request.roles"),
        (f"{T} &&", 19, "the end of the expression"),
        ("()", 1, "')'"),
        ("equals", 0, "equals"),
    ],
)
def test_a_value_where_a_boolean_is_expected_is_refused(text, position, got):
    err = error_of(text)
    assert err.position == position
    assert err.message == f"expected a boolean expression (a function call), got {got}"


def test_function_arguments_must_be_values_not_booleans():
    err = error_of('equals(contains(reviewer.roles, "a"), "x")')
    assert err.position == 7
    assert err.message.startswith("expected a value (a variable or a string literal)")
    assert error_of('equals(!"a", "x")').position == 7
    assert error_of('equals("a", )').position == 12


def test_trailing_input_after_a_complete_expression_is_refused():
    err = error_of(f"{T} {T}")
    assert err.position == 17
    assert "after a complete expression" in err.message


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        (f"({T}", "unclosed '('", 0),
        (f"(({T})", "unclosed '('", 0),
        (f"{T})", "unmatched ')'", 16),
        (f"({T}))", "unmatched ')'", 18),
        ('equals("a", "a"', "unclosed '(' of equals()", 6),
    ],
)
def test_unbalanced_parentheses_are_refused(text, message, position):
    err = error_of(text)
    assert (err.message, err.position) == (message, position)


def test_an_invalid_regex_is_refused_at_its_string_literal():
    err = error_of('regexp.match(request.roles, "^(dev$")')
    assert err.position == 28
    assert "'^(dev$' is not a valid regular expression" in err.message


def test_the_regexp_pattern_must_be_a_string_literal():
    err = error_of("regexp.match(request.roles, request.reason)")
    assert err.position == 28
    assert "must be a string literal" in err.message


def test_an_expression_longer_than_the_limit_is_refused():
    padded = T + " " * (MAX_LENGTH - len(T))
    assert parse(padded).evaluate(CTX) is True
    err = error_of(padded + " ")
    assert err.position == MAX_LENGTH
    assert err.message == f"expression is longer than {MAX_LENGTH} characters"


@pytest.mark.parametrize(
    "opener", ["(", "!", "!("], ids=["parentheses", "negations", "negated-parentheses"]
)
def test_nesting_up_to_the_limit_is_fine_and_deeper_is_refused(opener):
    closer = ")" * opener.count("(")

    def nested(levels: int) -> str:
        return opener * levels + T + closer * levels

    per_repeat = len(opener)
    assert parse(nested(MAX_DEPTH // per_repeat)).evaluate(CTX) in (True, False)
    err = error_of(nested(MAX_DEPTH // per_repeat + 1))
    assert err.position == MAX_DEPTH  # the opener that goes one level too deep
    assert err.message == f"expression is nested deeper than {MAX_DEPTH} levels"


@pytest.mark.parametrize("hostile", ["(" * 4000, "!" * 4000, "(!" * 2000, "(" * 2000 + T])
def test_hostile_nesting_is_a_predicate_error_never_a_recursion_error(hostile):
    err = error_of(hostile)
    assert err.position == MAX_DEPTH


# --- the error object -----------------------------------------------------------------------


def test_the_error_message_shows_the_source_with_a_caret_under_the_position():
    text = f"{T} && frobnicate()"
    err = error_of(text)
    first, source, caret = str(err).split("\n")
    assert first == f"{err.message} at position 20"
    assert source == text
    assert caret == " " * 20 + "^"
    assert err.text == text


def test_the_caret_points_into_the_right_line_of_a_multiline_expression():
    text = f"{T}\n&& bogus(x)"
    err = error_of(text)
    assert err.position == len(T) + 4
    _, source, caret = str(err).split("\n")
    assert source == "&& bogus(x)"
    assert caret == "   ^"


def test_the_caret_keeps_tabs_so_it_lines_up():
    err = error_of(f"\t\t{T} @")
    assert str(err).split("\n")[2] == "\t\t" + " " * (len(T) + 1) + "^"


def test_an_error_about_a_huge_expression_shows_only_a_window_of_it():
    err = error_of("x" * (MAX_LENGTH + 1000))
    _, source, caret = str(err).split("\n")
    assert len(source) < 100
    assert source.startswith("...") and source.endswith("...")
    assert len(caret) < 100


def test_predicate_error_is_a_value_error_and_survives_pickling():
    err = error_of("nope(")
    assert isinstance(err, ValueError)
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.message, copy.position, copy.text) == (err.message, err.position, err.text)
    assert str(copy) == str(err)


# --- the parsed object ----------------------------------------------------------------------


def test_parse_results_are_cached_per_text_and_scope():
    text = 'contains(reviewer.roles, "cache-me")'
    assert parse(text) is parse(text)
    assert parse(text, scope="where") is parse(text, scope="where")
    assert parse(text) is not parse(text, scope="where")


def test_a_predicate_is_immutable_and_keeps_its_text():
    predicate = parse(T)
    assert isinstance(predicate, Predicate)
    assert predicate.text == T
    with pytest.raises(dataclasses.FrozenInstanceError):
        predicate.text = F  # type: ignore[misc]


def test_parse_refuses_a_non_string():
    with pytest.raises(TypeError):
        parse(None)  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------------------


_TOKENS = [
    "equals", "contains", "regexp.match", "regexp", "frob", "(", ")", "[", "]", ",", "&&", "||",
    "!", "&", "|", '"', '"x"', '"^(x$"', '"^x$"', '"*"', "'", "\\", "\\n", " ", "\n",
    "reviewer.roles", 'reviewer.traits["team"]', "reviewer.traits", "request.roles",
    "request.reason", 'request.annotations["k"]', "request.annotations", "review.reason",
    "reviewer.", ".", "é", "\x00",
]  # fmt: skip
_token_soup = st.lists(st.sampled_from(_TOKENS), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)  # no timed tests: a busy CI machine is slow
@given(text=st.one_of(st.text(max_size=200), _token_soup), scope=st.sampled_from(sorted(SCOPES)))
def test_property_parse_returns_a_predicate_or_raises_predicate_error(text, scope):
    try:
        result = parse(text, scope=scope)
    except PredicateError as err:
        assert 0 <= err.position <= len(text)
        assert err.text == text
        assert str(err)
    else:
        assert isinstance(result, Predicate)
        assert isinstance(result.evaluate(CTX), bool)


def _quote(raw: str) -> str:
    escaped = raw.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped.replace("\t", "\\t") + '"'


_strings = st.text(max_size=8)
_filter_values = st.one_of(
    _strings.map(_quote),
    st.sampled_from(["reviewer.roles", "request.roles", "request.reason", "review.reason"]),
    _strings.map(lambda k: f"reviewer.traits[{_quote(k)}]"),
    _strings.map(lambda k: f"request.annotations[{_quote(k)}]"),
)
_patterns = st.one_of(
    st.text(alphabet="ab*-.^$?[]()", max_size=6).filter(lambda p: not p.startswith("^")),
    st.sampled_from(["^a.*$", "^(x|y)+$", "^$", "^[a-z]+-[0-9]*$"]),
).map(_quote)
_calls = st.one_of(
    st.builds("equals({}, {})".format, _filter_values, _filter_values),
    st.builds("contains({}, {})".format, _filter_values, _filter_values),
    st.builds("regexp.match({}, {})".format, _filter_values, _patterns),
)


@st.composite
def _expressions(draw, budget: int = 8) -> str:
    """A valid filter expression nested at most 2 * `budget` levels (well under MAX_DEPTH)."""
    shapes = ["call", "and", "or", "not", "not-group"] if budget else ["call"]
    shape = draw(st.sampled_from(shapes))
    if shape == "call":
        return draw(_calls)
    inner = _expressions(budget - 1)
    if shape == "and":
        return f"({draw(inner)} && {draw(inner)})"
    if shape == "or":
        return f"{draw(inner)} || {draw(inner)}"
    if shape == "not":
        return f"!{draw(inner)}"
    return f"!({draw(inner)})"


_odd = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=5),
    st.lists(st.one_of(st.none(), st.text(max_size=5), st.integers()), max_size=4),
    st.dictionaries(
        st.text(max_size=3),
        st.one_of(st.none(), st.lists(st.text(max_size=3), max_size=3)),
        max_size=3,
    ),
)
_contexts = st.dictionaries(
    st.sampled_from(["reviewer", "request", "review"]),
    st.one_of(
        st.none(),
        st.dictionaries(st.sampled_from(["roles", "traits", "reason", "annotations"]), _odd),
    ),
)


@settings(max_examples=300, deadline=None)  # no timed tests: a busy CI machine is slow
@given(text=_expressions(), ctx=_contexts)
def test_property_valid_expressions_parse_and_evaluate_to_a_bool(text, ctx):
    predicate = parse(text, scope="filter")
    assert isinstance(predicate.evaluate(ctx), bool)
    assert isinstance(predicate.evaluate(CTX), bool)


@given(
    groups=st.lists(
        st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=1, max_size=4),
        min_size=1,
        max_size=4,
    )
)
def test_property_operators_follow_not_and_or_precedence(groups):
    # Built without parentheses, so only precedence decides how it groups.
    text = " || ".join(
        " && ".join("!" * nots + (T if value else F) for nots, value in group) for group in groups
    )
    expected = any(all(value ^ (nots % 2 == 1) for nots, value in group) for group in groups)
    assert holds(text) is expected


@given(raw=st.text(max_size=30))
def test_property_any_string_survives_quoting_and_escaping(raw):
    assert holds(f"equals(request.reason, {_quote(raw)})", {"request": {"reason": raw}})
