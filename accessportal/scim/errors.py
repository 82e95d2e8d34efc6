"""SCIM error bodies (RFC 7644 section 3.12), and the domain errors turned into them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from django.http import HttpResponse
from django_scim.constants import SCIM_CONTENT_TYPE, SchemaURI
from django_scim.exceptions import SCIMException

from accessportal.kernel.errors import DomainError, NotFound

# scimType per domain error code, where SCIM names one.
SCIM_TYPES = {"invalid": "invalidValue", "uniqueness": "uniqueness"}


def scim_error(status: int, detail: str, scim_type: str | None = None) -> HttpResponse:
    body = {"schemas": [SchemaURI.ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return HttpResponse(json.dumps(body), status=status, content_type=SCIM_CONTENT_TYPE)


class SCIMError(SCIMException):
    """An error django-scim2's views render as a SCIM error body with `status`."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail, status=status, scim_type=scim_type)


def bad_request(detail: str, scim_type: str = "invalidValue") -> SCIMError:
    return SCIMError(400, detail, scim_type)


@contextmanager
def domain_errors() -> Iterator[None]:
    """Turn a domain error from a service into its SCIM answer (never a 500)."""
    try:
        yield
    except NotFound as e:
        raise SCIMError(404, e.message) from None
    except DomainError as e:
        raise SCIMError(e.status, e.message, SCIM_TYPES.get(e.code)) from None
