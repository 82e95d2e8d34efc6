"""What the API answers for a path it does not have: JSON, like every other answer."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.request import Request

from requests_app.errors import NotFound

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@extend_schema(exclude=True)
@api_view(ALL_METHODS)
@authentication_classes([])
@permission_classes([])
def unknown_endpoint(request: Request, *args, **kwargs):
    raise NotFound("no such API endpoint: see /api/docs/")
