"""The export endpoints' renderer, so `Accept: text/csv` and `?format=csv` negotiate; the
streamed answer itself is `selectors.exports.csv_response` (the admin desk's too)."""

from __future__ import annotations

import json

from django.http import Http404
from rest_framework.renderers import BaseRenderer

from accessportal.kernel.errors import ValidationFailed


class CSVRenderer(BaseRenderer):
    """Negotiates `text/csv`. The export itself is streamed (`csv_response`); what this
    renders is only an error's body, kept in the API's JSON error shape."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return json.dumps(data, default=str).encode() if data is not None else b""


class FormatParameterMixin:
    """On the `export` action, `?format=` names a renderer (`json`, `csv`): another value
    is a 400 naming the parameter, as the schema's enum says, where DRF would answer 404."""

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:
            if getattr(self, "action", None) != "export":
                raise
            raise ValidationFailed("format must be csv or json", field="format") from None
