"""The error codes registry (requests_app/api/error_codes.py), README's "Errors" table and the
schema's enums list the same codes: a domain error class added anywhere without a row in
the table, or a code the schema does not document, fails here."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

from accessportal.kernel.errors import DomainError
from requests_app.api.error_codes import (
    API_DOMAIN_ERRORS,
    DEVICE_FLOW_CODES,
    FALLBACK,
    REGISTRY,
)

ROOT = Path(__file__).resolve().parents[3]


def error_schema(schema: dict, operation: dict, status: int) -> dict:
    """The error body schema an operation documents for `status` (its shared component)."""
    ref = operation["responses"][str(status)]["content"]["application/json"]["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]


# Domain errors that other surfaces answer, never the API (their pages and protocols have
# their own error formats).
OTHER_SURFACES = {
    "AccountConflict": "SSO sign-in page",
    "AccountDisabled": "SSO sign-in page",
    "NoMapping": "SSO sign-in page",
    "UserNameTaken": "SCIM (scimType uniqueness)",
    "TokenExists": "the portal's token page",
    "ApprovalRequired": "apply_policies and the admin (the API only proposes)",
    "IllegalTransition": "a base class: its raise sites answer `conflict`, listed as Conflict",
    "DeviceFlowError": "RFC 8628 codes, listed one by one (DEVICE_FLOW_CODES)",
}


def _every_domain_error() -> set[type[DomainError]]:
    for package in ("accessportal", "requests_app", "policies_app"):
        for module in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            if ".migrations" in module.name or module.name.endswith(("wsgi", "celery")):
                continue
            importlib.import_module(module.name)
    found, todo = set(), [DomainError]
    while todo:
        for subclass in todo.pop().__subclasses__():
            found.add(subclass)
            todo.append(subclass)
    return found


def _readme_table() -> dict[str, int]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Errors", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    return {
        code: int(status)
        for code, status in re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", section, re.M)
    }


def test_every_domain_error_class_is_answered_by_the_api_or_belongs_to_another_surface():
    for cls in _every_domain_error():
        if cls.__module__.startswith("tests."):
            continue
        assert cls in API_DOMAIN_ERRORS or cls.__name__ in OTHER_SURFACES, cls


def test_every_device_flow_code_raised_is_registered():
    source = (ROOT / "requests_app/services/cli_login.py").read_text()
    raised = set(re.findall(r'DeviceFlowError\(\s*"([a-z_]+)"', source))
    assert raised == {entry.code for entry in DEVICE_FLOW_CODES}


def test_readme_error_table_lists_every_code_with_its_status():
    table = _readme_table()
    assert table == {code: entry.status for code, entry in REGISTRY.items()}
    assert all(entry.meaning for entry in REGISTRY.values())


def test_every_fallback_code_is_registered():
    assert set(FALLBACK.values()) <= set(REGISTRY)


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker) -> dict:
    from drf_spectacular.generators import SchemaGenerator

    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def test_every_error_answer_in_the_schema_has_a_required_code_enum(schema):
    documented = set()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            statuses = {int(status) for status in operation["responses"]}
            assert {400, 406, 429, 503} <= statuses, (method, path)
            if "requestBody" in operation:
                assert {413, 415} <= statuses, (method, path)
            for status in operation["responses"]:
                if int(status) < 400:
                    continue
                error = error_schema(schema, operation, int(status))
                assert {"detail", "code"} <= set(error["required"]), (method, path, status)
                codes = error["properties"]["code"]["enum"]
                assert all(REGISTRY[code].status == int(status) for code in codes)
                documented |= set(codes)
    # Every code is documented somewhere except those no operation in the schema answers:
    # 405 is the answer of a path to a method it has no operation for; a crash (500) is not
    # an operation's contract.
    assert set(REGISTRY) - documented == {"method_not_allowed", "server_error"}


def _enum(schema: dict, path: str, method: str, status: int) -> list[str]:
    operation = schema["paths"][path][method]
    return error_schema(schema, operation, status)["properties"]["code"]["enum"]


def test_codes_any_operation_can_answer_are_documented_on_every_operation(schema):
    """A bad Host is refused before any view (400 `bad_host`); any operation may lose its
    database (503); reads without a 400 of their own included."""
    for path, item in schema["paths"].items():
        for method in item:
            assert "bad_host" in _enum(schema, path, method, 400), (method, path)
            unavailable = _enum(schema, path, method, 503)
            assert {"database_unavailable", "service_unavailable"} <= set(unavailable)


def test_codes_only_some_operations_answer_are_documented_where_they_are_raised(schema):
    # services/credentials.py signing_key_ensure: no key signs now, one waits to start.
    assert "conflict" in _enum(schema, "/api/v1/credentials/", "post", 409)
    # services/reviews.py: a past assume_start_time.
    assert "unprocessable" in _enum(schema, "/api/v1/requests/{id}/reviews/", "post", 422)
    # The access check: exactly one of role or resource (a read).
    assert "unprocessable" in _enum(schema, "/api/v1/access/check/", "get", 422)
    # RFC 6749: an unknown, used or expired code.
    assert "invalid_grant" in _enum(schema, "/api/v1/auth/cli/token/", "post", 400)


def test_every_error_example_in_the_schema_is_in_the_one_shape_with_a_documented_code(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                enum = error_schema(schema, operation, int(status))["properties"]["code"]["enum"]
                examples = response["content"]["application/json"].get("examples", {})
                for name, example in examples.items():
                    body = example["value"]
                    assert set(body) <= {"detail", "code", "field", "errors", "error"}, name
                    assert body["code"] in enum, (method, path, status, name)
