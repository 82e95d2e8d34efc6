"""How the schema says what the server enforces, where a per-field declaration cannot:
the schema class marks strict request bodies required, and postprocessing hooks state the
rule every query parameter follows (no empty values) and keep list examples one page."""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.plumbing import force_instance

from requests_app.api.serializers.base import StrictSerializer

NO_NUL = r"^[^\u0000]*$"


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's, plus: a strict JSON body is required (`requestBody.required`)
    even when each of its fields may be left out (`{}` withdraws a request), unless its
    serializer says `body_optional` (a credential's audience has a default)."""

    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        if body:
            serializer = force_instance(self.get_request_serializer())
            if isinstance(serializer, StrictSerializer) and not serializer.body_optional:
                body["required"] = True
        return body


def _not_empty(schema: dict) -> None:
    if schema.get("type") == "string" and "enum" not in schema and "format" not in schema:
        schema["minLength"] = max(1, schema.get("minLength", 0))
        # Django's and DRF's text fields refuse NUL (ProhibitNullCharactersValidator).
        schema.setdefault("pattern", NO_NUL)
    for alternative in schema.get("oneOf", []):
        _not_empty(alternative)
    if schema.get("type") == "array":
        _not_empty(schema["items"])


def query_parameters_not_empty(result: dict, generator, request, public) -> dict:
    """An empty query parameter (`?user=`) is a 400 naming it (filters.StrictFilterSet,
    the paginator, the access check): each string parameter has `minLength: 1`, and a
    pattern without NUL, which every text field refuses."""
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    _not_empty(parameter["schema"])
    return result


def _is_page(value: object) -> bool:
    return isinstance(value, dict) and {"count", "next", "previous", "results"} <= value.keys()


def paginated_examples_once(result: dict, generator, request, public) -> dict:
    """A list's examples (requests_app.api.examples.page) are whole pages already:
    drf-spectacular wraps them in a page again, which this undoes."""
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for response in operation.get("responses", {}).values():
                for content in response.get("content", {}).values():
                    for example in content.get("examples", {}).values():
                        value = example.get("value")
                        wrapped = _is_page(value) and len(value["results"]) == 1
                        if wrapped and _is_page(value["results"][0]):
                            example["value"] = value["results"][0]
    return result
