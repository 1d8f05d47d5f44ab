"""Page-number pagination of every API list, and how its refusal is documented."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

from core.api.errors import ErrorSerializer


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500  # larger requests are clamped, not refused

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


# DRF's pagination answers a page it cannot serve with 404 "Invalid page.".
NO_SUCH_PAGE = {
    404: OpenApiResponse(
        ErrorSerializer,
        description="No such page: `page` is not a whole number from 1, or is past the last page.",
    )
}
