"""The filters every structure list shares.

Archived rows are left out unless `?include_archived=true`. Parent filters take plain ids:
an id of another organization matches nothing (the list is already scoped to the
caller's organization), exactly like an id that does not exist.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from core.ids import IdFormField


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(filters.NumberFilter):  # type: ignore[misc]  # django-filter ships no type information
    """An id as core.ids parses it ("1.5", "²", "١٢" and 10**30 are a 400, not a 1 or a 500)."""

    field_class = IdFormField


class ArchivableFilterSet(filters.FilterSet):  # type: ignore[misc]  # django-filter ships no type information
    """Hides archived rows (`archived_at` set) unless asked to include them."""

    include_archived = filters.BooleanFilter(
        method="keep",
        help_text="true to list archived items too (they are left out by default).",
    )

    def keep(self, queryset: QuerySet[Any], name: str, value: bool) -> QuerySet[Any]:
        """The flag is applied in filter_queryset, which also runs when it is absent."""
        return queryset

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("include_archived"):
            queryset = self.without_archived(queryset)
        return queryset

    def without_archived(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(archived_at__isnull=True)
