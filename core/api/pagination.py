"""Page-number pagination of every API list, and how its refusal is documented."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

from core.api.errors import ErrorSerializer
from core.ids import parse_positive


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500  # larger requests are clamped, not refused

    def get_page_number(self, request: Request, paginator: Any) -> Any:
        """`page` as core.ids parses numbers: ASCII digits only ("١" was page 1 to int()),
        so anything else is the usual 404 "Invalid page."; "last" stays DRF's word."""
        raw = request.query_params.get(self.page_query_param) or "1"
        if raw in self.last_page_strings:
            return raw
        return parse_positive(raw) or "invalid"


# DRF's pagination answers a page it cannot serve with 404 "Invalid page.".
NO_SUCH_PAGE = {
    404: OpenApiResponse(
        ErrorSerializer,
        description="No such page: `page` is not a whole number from 1, or is past the last page.",
    )
}
