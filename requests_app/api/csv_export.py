"""CSV answers of the export endpoints: a renderer so `Accept: text/csv` and `?format=csv`
negotiate, and the streaming response itself (rows from `selectors.exports`)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.http import StreamingHttpResponse
from django.utils import timezone
from rest_framework.renderers import BaseRenderer

from requests_app.selectors.exports import csv_lines


class CSVRenderer(BaseRenderer):
    """Negotiates `text/csv`. The export itself is streamed (`csv_response`); what this
    renders is only an error's body, kept in the API's JSON error shape."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return json.dumps(data, default=str).encode() if data is not None else b""


def csv_response(name: str, header: list[str], rows: Iterable[list]) -> StreamingHttpResponse:
    """A streamed CSV download, `<name>-<UTC time>.csv`."""
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
