"""Schemathesis over the API's own OpenAPI schema (`/api/schema/`), with real token auth.

Bounded for CI: a handful of generated examples per operation, schema-valid and
schema-violating, then stateful runs that chain real request ids from one call into the
next (create → show → review → revoke ...). Hypothesis is derandomized, so every run sends
the same requests. Every answer must be: no 5xx, a documented status code and content type,
a body that matches the documented schema, and a refusal for input the schema forbids.

Each operation is called as the persona it makes sense for (alice creates and withdraws,
bob reviews, sam resolves and revokes, erin the auditor reads, ivy the integration checks
access), so the runs reach the real code paths instead of stopping at 403.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from django.core.cache import cache
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.requests_app.api import in_process
from tests.requests_app.api.test_schema import CONTRACT

# "No 5xx, and every answer conforms to the schema"; plus: what the schema forbids is refused.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
BOUNDED = settings(
    max_examples=8,
    derandomize=True,  # the same examples on every run: a failure is reproducible
    deadline=None,  # no timing asserts
    database=None,
    suppress_health_check=list(HealthCheck),
)
PERSONAS = ["alice", "bob", "sam", "erin", "ivy"]


def persona(method: str, path: str) -> str:
    """Who calls an operation: someone for whom it can succeed."""
    if path.endswith("/reviews/"):
        return "bob"
    if path.endswith(("/approve/", "/deny/", "/revoke/")):
        return "sam"
    if method.upper() == "POST":
        return "alice"  # create, withdraw (her own), auth/token
    if path.endswith("/access/check/"):
        return "ivy"
    return "erin"  # the auditor sees every request, grant and audit event


@pytest.fixture
def tokens(api_policy, user, pending, approved) -> dict[str, str]:
    """Real DRF tokens of the personas; alice has a pending and an approved request."""
    return {name: Token.objects.get_or_create(user=user(name))[0].key for name in PERSONAS}


@pytest.fixture
def wsgi_app(db):
    with in_process.wsgi_app() as app:
        yield app


@pytest.fixture
def api_schema(tokens, wsgi_app):
    """The schema the server publishes, loaded through the server itself."""
    return schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)


def auth(tokens: dict[str, str], method: str, path: str) -> dict[str, str]:
    return {"Authorization": f"Token {tokens[persona(method, path)]}"}


OPERATIONS = sorted(CONTRACT)
# Operations with nothing to put wrong (no parameters, no body) have no negative examples.
NEGATIVE = [
    op for op in OPERATIONS if op not in {("get", "/api/v1/me/"), ("post", "/api/v1/auth/device/")}
]


@pytest.mark.parametrize(
    ("method", "path", "mode"),
    [(*op, GenerationMode.POSITIVE) for op in OPERATIONS]
    + [(*op, GenerationMode.NEGATIVE) for op in NEGATIVE],
    ids=lambda v: v.value if isinstance(v, GenerationMode) else v,
)
def test_every_operation_answers_generated_input_as_its_schema_says(
    api_schema, tokens, method, path, mode
):
    operation = api_schema[path][method.upper()]
    headers = auth(tokens, method, path)

    @BOUNDED
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()


LIST = "GET /api/v1/requests/"
ALLOWED_BODIES = {
    "POST /api/v1/requests/": [
        {"roles": ["db-admin"], "reason": "INC-7"},
        {"roles": ["dev-admin"], "reason": "deploy", "max_duration": "1h"},
        {"resources": ["node/db-prod-1"], "reason": "debugging"},
    ],
    "reviews": [{"state": "APPROVED", "reason": "ok"}, {"state": "DENIED", "reason": "no"}],
    **{action: [{"reason": "INC-7 done"}] for action in ("approve", "deny", "revoke", "withdraw")},
}


def test_stateful_runs_chain_real_ids_and_answer_as_the_schema_says(api_schema, tokens):
    """The state machine follows the links schemathesis infers from the schema (a request's
    `id` into `/requests/{id}/...`), so reviews, withdrawals, resolutions and revocations
    run against requests that exist."""
    statuses: Counter = Counter()

    @api_schema.hook
    def before_generate_body(context, strategy):
        # Random bodies are mostly refused (unknown roles, hostile reasons): mix in ones that
        # can succeed, so that requests get created, reviewed and revoked along the chains.
        label = context.operation.label if context.operation is not None else ""
        allowed = ALLOWED_BODIES.get(label.rsplit("/", 2)[-2] if "{id}" in label else label)
        return st.one_of(st.sampled_from(allowed), strategy) if allowed else strategy

    @api_schema.hook
    def before_generate_query(context, strategy):
        # And an unfiltered first page of the list, whose ids the links follow.
        if context.operation is not None and context.operation.label == LIST:
            return st.one_of(st.just({}), strategy)
        return strategy

    class APIWorkflow(api_schema.as_state_machine()):
        # Every scenario starts from the fixtures' database and an empty rate-limit count:
        # Hypothesis replays scenarios, and one whose calls met the previous scenario's
        # requests (or its throttle counts) would answer differently the second time
        # (FlakyStrategyDefinition when the file ran on its own).
        def setup(self):
            cache.clear()
            self.savepoint = transaction.savepoint()

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)

        def get_call_kwargs(self, case):
            return {"headers": auth(tokens, case.method, case.path)}

        def before_call(self, case):
            # The inferred links copy a request's `state` (PENDING) into a review's verdict
            # field of the same name; a verdict is APPROVED or DENIED, so give it one.
            body = case.body if isinstance(case.body, dict) else {}
            if case.path.endswith("/reviews/") and body.get("state") == "PENDING":
                body["state"] = "APPROVED"

        def after_call(self, response, case):
            statuses[(case.method, case.operation.path, response.status_code)] += 1

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    APIWorkflow.run(settings=settings(BOUNDED, max_examples=30, stateful_step_count=8))

    # The chaining worked: operations on one request answered for a real one, not only 404.
    on_one_request = {
        (method, path)
        for (method, path, status), _ in statuses.items()
        if "{id}" in path and status < 300
    }
    assert ("GET", "/api/v1/requests/{id}/") in on_one_request, statuses
    assert len(on_one_request) >= 3, statuses


# --- what the runs above found, kept as fixed examples -----------------------------------


def test_nested_field_errors_match_the_documented_400_schema(api_schema, tokens):
    """A list item's error is nested by index (`{"suggested_reviewers": {"0": [...]}}`); the
    documented error shape allowed only a flat list of messages."""
    operation = api_schema["/api/v1/requests/"]["POST"]
    case = operation.Case(
        body={"roles": ["db-admin"], "reason": "x", "suggested_reviewers": ["r" * 151]},
        media_type="application/json",
    )
    response = case.call_and_validate(
        headers=auth(tokens, "post", "/api/v1/requests/"), checks=CHECKS
    )
    assert response.status_code == 400
    assert response.json() == {
        "suggested_reviewers": {"0": ["Ensure this field has no more than 150 characters."]}
    }


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v1/requests/", {"page": "0"}),
        ("/api/v1/grants/", {"page_size": "0.5"}),
        ("/api/v1/roles/", {"page": "5000"}),
    ],
)
def test_page_parameters_are_answered_as_documented(api_schema, tokens, path, query):
    case = api_schema[path]["GET"].Case(query=query)
    response = case.call_and_validate(headers=auth(tokens, "get", path), checks=CHECKS)
    assert response.status_code in (400, 404)


def test_an_id_with_a_dot_gets_the_json_404(api_schema, tokens):
    path = "/api/v1/requests/{id}/reviews/"
    case = api_schema[path]["POST"].Case(
        path_parameters={"id": "request.reason"},
        body={"state": "APPROVED", "reason": "ok"},
        media_type="application/json",
    )
    response = case.call_and_validate(headers=auth(tokens, "post", path), checks=CHECKS)
    assert response.status_code == 404
    assert response.json()["detail"] == "no such access request"
