"""Page-number pagination of every API list, and how its refusal is documented."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse
from rest_framework.pagination import PageNumberPagination

from core.api.errors import ErrorSerializer


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


# DRF's pagination answers a page it cannot serve with 404 "Invalid page.".
NO_SUCH_PAGE = {
    404: OpenApiResponse(
        ErrorSerializer,
        description="No such page: `page` is not a whole number from 1, or is past the last page.",
    )
}
