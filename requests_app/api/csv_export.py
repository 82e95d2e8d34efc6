"""The export endpoints' renderer, so `Accept: text/csv` and `?format=csv` negotiate; the
streamed answer itself is `selectors.exports.csv_response` (the admin desk's too)."""

from __future__ import annotations

import json

from rest_framework.renderers import BaseRenderer


class CSVRenderer(BaseRenderer):
    """Negotiates `text/csv`. The export itself is streamed (`csv_response`); what this
    renders is only an error's body, kept in the API's JSON error shape."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return json.dumps(data, default=str).encode() if data is not None else b""
