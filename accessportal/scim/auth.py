"""Who is calling: an identity provider, by its bearer token, and nothing else.

django-scim2 applies AUTH_CHECK_MIDDLEWARE as a decorator of its views; its stock check
accepts any signed-in Django user, so a portal session cookie would pass. This one accepts
only `Authorization: Bearer <token>` of a provider (policies_app.services.directory_tokens)
that has an `sso_mapping`, sets `request.scim_provider`, and refuses bodies django-scim2
would mishandle (a non-object body is a 500 there, an unknown schema is accepted).
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django_scim.constants import SchemaURI
from django_scim.middleware import SCIMAuthCheckMiddleware
from django_scim.settings import scim_settings

from accessportal.kernel.storable import unstorable
from accessportal.scim.errors import scim_error
from policies_app.models import SSOMapping
from policies_app.services.directory_tokens import directory_token_provider

USER_SCHEMAS = {SchemaURI.USER, SchemaURI.ENTERPRISE_USER}
KNOWN_SCHEMAS = {"/Users": USER_SCHEMAS, "/Groups": {SchemaURI.GROUP}}
MAX_BODY = 1024 * 1024


def bearer_provider(request: HttpRequest) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return directory_token_provider(token.strip())


def body_problem(request: HttpRequest) -> str | None:
    """What is wrong with a POST, PUT or PATCH body before django-scim2 reads it."""
    if "/Users" not in request.path and "/Groups" not in request.path:
        return None  # Bulk, Me: not implemented (501), whatever the body
    if len(request.body) > MAX_BODY:
        return f"the body is larger than {MAX_BODY} bytes"
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        return "the body is not JSON"
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or not schemas:
        return "schemas must be a non-empty list"
    if request.path.endswith("/.search"):
        if schemas != [SchemaURI.SERACH_REQUEST]:  # sic: django-scim2's spelling
            return f"a search needs schemas [{SchemaURI.SERACH_REQUEST!r}]"
        return None
    if request.method == "PATCH":
        ops = body.get("Operations")
        if schemas != [SchemaURI.PATCH_OP]:
            return f"a PATCH needs schemas [{SchemaURI.PATCH_OP!r}]"
        if not isinstance(ops, list) or not ops or not all(isinstance(o, dict) for o in ops):
            return "Operations must be a non-empty list of objects"
        return None
    kind = "/Groups" if "/Groups" in request.path else "/Users"
    unknown = sorted(str(s) for s in schemas if s not in KNOWN_SCHEMAS[kind])
    if unknown:
        return f"unknown schema(s) for {kind[1:]}: {', '.join(unknown)}"
    return None


class BearerTokenSCIMAuth(SCIMAuthCheckMiddleware):
    """401 without a provider's token, 403 for a provider without an sso_mapping, 400 for
    a body that is not a SCIM object or holds what no database can store (a NUL)."""

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        provider = bearer_provider(request)
        if provider is None:
            response = scim_error(401, "a valid bearer token of an identity provider is needed")
            response["WWW-Authenticate"] = scim_settings.WWW_AUTHENTICATE_HEADER
            return response
        if not SSOMapping.objects.filter(name=provider).exists():
            detail = (
                f"the identity provider {provider!r} has no sso_mapping in the policy files; "
                "an administrator must add one before it can sync users and groups"
            )
            return scim_error(403, detail)
        request.scim_provider = provider
        if request.method in ("POST", "PUT", "PATCH"):
            problem = body_problem(request)
            if problem:
                return scim_error(400, problem, "invalidSyntax")
            if ("/Users" in request.path or "/Groups" in request.path) and (
                problems := unstorable(json.loads(request.body or b"null"))
            ):
                return scim_error(400, problems[0], "invalidValue")
        return None
