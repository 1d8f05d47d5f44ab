"""Page-number pagination of every API list, and how its refusal is documented."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework.pagination import PageNumberPagination

from core.api.errors import ErrorSerializer


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500  # larger requests are clamped, not refused


# DRF's pagination answers a page it cannot serve with 404 "Invalid page.".
NO_SUCH_PAGE = {
    404: OpenApiResponse(
        ErrorSerializer,
        description="No such page: `page` is not a whole number from 1, or is past the last page.",
    )
}
