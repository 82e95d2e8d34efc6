"""Hostile policy files: arbitrary YAML text and arbitrary structures dumped to YAML.

Whatever the input, the loader answers with a PolicyFileError listing problems, or with a
plan that the database then stores: never another exception, never a crash on apply.
"""

from __future__ import annotations

import pytest
import yaml
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies_app.loader import PolicyFileError, PolicyPlan, plan_from_texts
from policies_app.models import Role
from policies_app.services.apply import policies_apply
from tests.conftest import BASE_POLICY

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class _Rollback(Exception):
    pass


def _check(text: str) -> PolicyPlan | None:
    """The loader's contract on one input; a valid plan must also apply (rolled back)."""
    try:
        plan = plan_from_texts([("fuzz.yaml", text)])
    except PolicyFileError as err:
        assert err.problems and all(isinstance(p, str) and p for p in err.problems)
        return None
    assert isinstance(plan, PolicyPlan)
    try:
        with transaction.atomic():
            policies_apply(plan=plan)
            raise _Rollback
    except _Rollback:
        pass
    return plan


# --- arbitrary text ----------------------------------------------------------------------

_YAML_BITS = [
    "kind: role\n", "kind: user\n", "kind: resource\n", "name: ", "id: node/x\n", "spec:\n",
    "  allow:\n", "    request:\n", "      roles: ", "      thresholds: ", "labels: ", "roles: ",
    "traits: ", "email: ", "description: ", "---\n", "- ", "[", "]", "{", "}", ": ", ", ",
    "&a ", "*a", "!!float ", "!!int ", "!!timestamp ", "!!binary ", "!!set ", "!!omap ",
    "!!python/object:os.system ", "? ", "|\n  ", ">\n  ", '"\\0"', '"\\ud800"', '"\\x00"',
    "2001-02-30", "1e999", "0x", ".nan", "~", "null", "yes", "'", '"', "#", "%YAML 1.1\n",
    "\t", "\n", "  ", "é", "\u202e", "😀", "x", "db-*", "^(a$", "approve: ", "deny: 3",
    "filter: ", "where: ", "max_duration: ", "9" * 30,
]  # fmt: skip
_yaml_soup = st.lists(st.sampled_from(_YAML_BITS), max_size=60).map("".join)


@FUZZ
@given(text=st.one_of(st.text(max_size=300), _yaml_soup))
def test_property_arbitrary_text_is_refused_with_problems_or_loads(db, text):
    _check(text)


# --- arbitrary structures dumped to YAML --------------------------------------------------

_FIELDS = [
    "kind", "name", "description", "spec", "allow", "deny", "options", "request",
    "review_requests", "resources", "permissions", "roles", "search_as_roles", "thresholds",
    "suggested_reviewers", "max_duration", "reason", "annotations", "mode", "prompt",
    "filter", "approve", "deny", "where", "kinds", "labels", "request_access", "id",
    "traits", "email", "version",
]  # fmt: skip
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(
        [
            "role",
            "user",
            "resource",
            "db-admin",
            "*",
            "^x$",
            "^(x$",
            "4h",
            "required",
            "reason",
            "always",
            "node",
            "prod",
            'contains(reviewer.roles, "x")',
            "a\x00b",
            "\ud800",
            "x" * 300 + "@example.com",
            "\u202eevil",
            "😀",
        ]
    ),  # fmt: skip
)
_keys = st.one_of(st.sampled_from(_FIELDS), st.text(max_size=10), st.integers())
_trees = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=5)),
    max_leaves=25,
)


@st.composite
def _documents(draw) -> dict:
    """Documents shaped like policies (right kinds, known fields), values anything."""
    doc = draw(st.dictionaries(st.sampled_from(_FIELDS), _trees, max_size=6))
    doc["kind"] = draw(st.one_of(st.sampled_from(["role", "user", "resource"]), _trees))
    return doc


def _dump(docs: list) -> str:
    return yaml.safe_dump_all(docs, allow_unicode=False, sort_keys=False)


@FUZZ
@given(docs=st.lists(st.one_of(_documents(), _trees), min_size=1, max_size=3))
def test_property_arbitrary_structures_are_refused_with_problems_or_load(db, docs):
    _check(_dump(docs))


# --- a valid policy with one part replaced by anything ------------------------------------

_BASE_DOCS = [d for d in yaml.safe_load_all(BASE_POLICY) if d]


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


_BASE_PATHS = [(i, path) for i, doc in enumerate(_BASE_DOCS) for path in _paths(doc) if path]


def _replaced(doc, path, new):
    if len(path) == 1:
        copy = dict(doc) if isinstance(doc, dict) else list(doc)
        copy[path[0]] = new
        return copy
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[path[0]] = _replaced(doc[path[0]], path[1:], new)
    return copy


@FUZZ
@given(where=st.sampled_from(_BASE_PATHS), new=_trees)
def test_property_a_valid_policy_with_one_value_replaced_is_refused_or_applies(db, where, new):
    index, path = where
    docs = list(_BASE_DOCS)
    docs[index] = _replaced(docs[index], path, new)
    _check(_dump(docs))


# --- inputs that once crashed the loader ---------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "kind: [role]\n",  # an unhashable kind
        "kind: {a: b}\n",
        "kind: role\nname: x\ncreated: 2001-02-30\n",  # an impossible date
        "kind: role\nname: !!float x\n",  # a tag whose value cannot be built
        "[" * 5000,  # nesting deeper than the YAML parser's recursion
        "kind: role\nname: " + "[" * 5000 + "]" * 5000 + "\n",
        'kind: role\nname: x\ndescription: "a\\0b"\n',  # NUL: PostgreSQL text cannot hold it
        'kind: role\nname: x\ndescription: "\\ud800"\n',  # a lone surrogate: not UTF-8
        'kind: user\nname: u\ntraits: {"t\\0": [x]}\n',
        'kind: resource\nid: node/x\nlabels: {env: "\\0"}\n',
        "kind: user\nname: u\nemail: " + "x" * 300 + "@example.com\n",  # longer than the column
        "kind: user\nname: u\nemail: not an address\n",
        "a: &a [*a]\nkind: role\n",  # a recursive structure
        "kind: role\nname: x\nspec: &s {allow: {request: {annotations: {k: *s}}}}\n",
    ],
    ids=lambda t: repr(t[:40]),
)
def test_hostile_policy_texts_are_refused_with_problems(db, text):
    with pytest.raises(PolicyFileError) as refused:
        plan_from_texts([("hostile.yaml", text)])
    assert refused.value.problems


def test_billion_laughs_is_refused_quickly_without_expanding(db):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 12)]
    text = "kind: role\nname: laughs\n" + "\n".join(lines) + "\ndescription: *a11\n"
    with pytest.raises(PolicyFileError) as refused:
        plan_from_texts([("laughs.yaml", text)])
    assert any("once its aliases are expanded" in p for p in refused.value.problems)


def test_unicode_policy_text_is_stored_exactly(db):
    description = "Base de données — 数据库 😀 \u202e (kept as written)"
    doc = {"kind": "role", "name": "db-admin", "description": description}
    policies_apply(plan=plan_from_texts([("u.yaml", yaml.safe_dump(doc))]))
    assert Role.objects.get(name="db-admin").description == description


def test_a_shared_anchor_is_fine(db):
    text = """
kind: role
name: lead
spec:
  allow:
    request: {roles: &team [db-admin, dev-admin]}
    review_requests: {roles: *team}
"""
    allow = _check(text).roles[0]["spec"]["allow"]
    assert (
        allow["request"]["roles"] == allow["review_requests"]["roles"] == ["db-admin", "dev-admin"]
    )
