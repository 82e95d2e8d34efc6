"""`ETag` and `If-Match` for access requests (README "ETags and If-Match").

The tag is the request's version (`services.preconditions.request_etag`), a strong
validator: it changes with every change of the request (state, reviews, revocation), so
`If-Match` may use it (RFC 9110 compares strongly: a weak `W/"..."` tag never matches).
The comparison itself is the services', under the request's row lock.
"""

from __future__ import annotations

import re

from rest_framework.request import Request
from rest_framework.response import Response

from accessportal.kernel.errors import ValidationFailed
from requests_app.models import AccessRequest
from requests_app.services.preconditions import request_etag

# One entity tag of an If-Match list: optionally weak, then a quoted opaque string, with
# optional white space (RFC 9110 OWS: spaces and tabs) around it.
TAG = re.compile(r'[ \t]*(W/)?("[\x21\x23-\x7e]*")[ \t]*(?:,|\Z)')
# The same rule for the schema (ECMA-262): `*`, or tags separated by commas.
_SCHEMA_TAG = r'[ \t]*(W/)?"[!#-~]*"[ \t]*'
IF_MATCH_PATTERN = rf"^([ \t]*\*[ \t]*|{_SCHEMA_TAG}(,{_SCHEMA_TAG})*,?)$"


def if_match(request: Request) -> list[str] | None:
    """The strong tags of the `If-Match` header (`["*"]` for `*`); None without it. Weak
    tags are left out (they never match); a malformed header is a 400."""
    header = request.headers.get("If-Match")
    if header is None:
        return None
    if header.strip(" \t") == "*":
        return ["*"]
    tags, position = [], 0
    while position < len(header) or not tags and position == 0:
        match = TAG.match(header, position)
        if match is None or match.end() == position:
            raise ValidationFailed(
                'If-Match must be "*" or a list of entity tags such as "3f2a..." (quoted)',
                field="If-Match",
            )
        if not match.group(1):
            tags.append(match.group(2))
        position = match.end()
    return tags


def with_etag(response: Response, access_request: AccessRequest) -> Response:
    response["ETag"] = request_etag(access_request)
    return response
