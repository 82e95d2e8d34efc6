"""Every list is paginated: `?page=N&page_size=M` (at most 200 a page).

Stricter than DRF's paginator: a `page` or `page_size` that is not a whole number from 1
is bad input (400, naming the parameter) instead of being ignored or read as "no such
page"; only a page past the last one is a 404, however many digits it has.
"""

from __future__ import annotations

from rest_framework import pagination
from rest_framework.exceptions import ValidationError

# Larger than any page count or page size: what a longer number (schema-valid, an integer
# from 1) is read as, rather than converted (int() refuses more than 4300 digits).
HUGE = 10**18


def _whole_number(raw: str, name: str) -> int:
    if not (raw.isascii() and raw.isdigit()):
        number = 0
    elif len(raw.lstrip("0")) > len(str(HUGE)):
        number = HUGE  # a page past the last (404), or the largest page size
    else:
        number = int(raw)
    if number < 1:
        raise ValidationError({name: [f"{raw[:32]!r} is not a whole number from 1"]})
    return number


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200
    page_query_description = "Page number, from 1 (or `last`); past the last page: 404."
    page_size_query_description = "Results per page, from 1; more than 200 is read as 200."
    invalid_page_message = "no such page: {message}"

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if raw in self.last_page_strings:
            return paginator.num_pages
        return _whole_number(raw, self.page_query_param)

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        return min(_whole_number(raw, self.page_size_query_param), self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {
                    "oneOf": [
                        parameter["schema"],
                        {"type": "string", "enum": list(self.last_page_strings)},
                    ]
                }
        return parameters

    def get_paginated_response_schema(self, schema: dict) -> dict:
        envelope = super().get_paginated_response_schema(schema)
        # Always present: `next` and `previous` are null on the last and first page.
        envelope["required"] = ["count", "next", "previous", "results"]
        return envelope
