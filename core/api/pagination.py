"""Page-number pagination of every API list, the cursor the evaluation list offers
beside it, and how their refusals are documented."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.errors import ErrorSerializer
from core.ids import parse_positive


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500  # larger requests are clamped, not refused

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        """DRF's page schema says `nullable`, which OpenAPI 3.1 (our schema's version) no
        longer has: `next` and `previous` are null on the last and first pages."""
        page = super().get_paginated_response_schema(schema)
        for link in ("next", "previous"):
            prop = page["properties"][link]
            prop.pop("nullable", None)
            prop["type"] = ["string", "null"]
        return page

    def get_page_number(self, request: Request, paginator: Any) -> Any:
        """`page` as core.ids parses numbers: ASCII digits only ("١" was page 1 to int()),
        so anything else is the usual 404 "Invalid page."; "last" stays DRF's word. Left
        out, it is page 1; sent empty, it is no page (the schema says an integer from 1,
        and `page_size` sent empty is refused too)."""
        raw = request.query_params.get(self.page_query_param, "1")
        if raw in self.last_page_strings:
            return raw
        return parse_positive(raw) or "invalid"

    def get_page_size(self, request: Request) -> int | None:
        """The asked page size, clamped to the maximum; a `page_size` that is not a whole
        number from 1 is a 400 (DRF would silently serve the default page size instead,
        so a client's mistake, such as `page_size=null`, would go unnoticed)."""
        asked = request.query_params.get(self.page_size_query_param)
        if asked is None:
            return self.page_size
        if not (asked.isascii() and asked.isdigit()) or int(asked[:12]) < 1:
            raise ValidationError({"page_size": ["Must be a whole number from 1."]})
        # Any number of digits is clamped (only the first 12 are parsed: int() refuses
        # strings of thousands of digits, and anything that long is over the maximum).
        return min(int(asked[:12]), self.max_page_size)


class _Cursor(CursorPagination):
    page_size = Pagination.page_size
    page_size_query_param = Pagination.page_size_query_param
    max_page_size = Pagination.max_page_size
    ordering = ("-observed_at", "-id")


class PageOrCursorPagination(Pagination):
    """Page numbers by default, exactly as API v1 clients know them (`page`, `page_size`;
    `count`, `next`, `previous`, `results`). A client that sends `cursor` (empty for the
    first page, then the `next` link) gets keyset pages instead: `next`, `previous`,
    `results` and no `count`, so no page counts the whole list. Page numbers count every
    matching row on every request (254 ms unfiltered at 10M evaluations); a cursor page
    reads only its rows through the (observed_at, id) indexes, at any depth.
    """

    cursor_query_param = "cursor"

    def __init__(self) -> None:
        self.cursor: _Cursor | None = None

    def paginate_queryset(
        self, queryset: QuerySet[Any] | Sequence[Any], request: Request, view: Any = None
    ) -> list[Any] | None:
        if self.cursor_query_param in request.query_params:
            self.cursor = _Cursor()
            return self.cursor.paginate_queryset(queryset, request, view)
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data: Any) -> Response:
        if self.cursor is not None:
            return self.cursor.get_paginated_response(data)
        return super().get_paginated_response(data)

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        both = super().get_paginated_response_schema(schema)
        both["required"] = ["results"]
        both["properties"]["count"]["description"] = (
            "Matching rows, on page-number pages only (absent when `cursor` is sent)."
        )
        return both

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": (
                    "Keyset pagination instead of page numbers: send it empty for the first "
                    "page, then follow `next`. Newest observation first; no `count`."
                ),
                "schema": {"type": "string"},
            },
        ]


# DRF's pagination answers a page it cannot serve with 404 "Invalid page.".
NO_SUCH_PAGE = {
    404: OpenApiResponse(
        ErrorSerializer,
        description="No such page: `page` is not a whole number from 1, or is past the last "
        "page (or, on the evaluation list, `cursor` is not one this API gave out).",
    )
}
