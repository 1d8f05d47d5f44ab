"""REST API for the journey structure: journeys and stages, on the structure base of
core.api.viewsets."""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from core.api.viewsets import (
    OrderedStructureViewSet,
    ParentRows,
    StructureViewSet,
    document_structure,
    resolve_reference,
)
from journeys import services
from journeys.filters import JourneyFilter, StageFilter
from journeys.models import Journey, Stage
from journeys.serializers import JourneySerializer, StageSerializer

# --- Journeys and stages -----------------------------------------------------------------------


@document_structure(
    "journey",
    JourneySerializer,
    plural="journeys",
    create_example={
        "name": "New broadband customer",
        "persona": "Household, first contract",
        "description": "From the first call to a working connection.",
        "status": "draft",
        "target": 80,
    },
    response_example={
        "id": 12,
        "name": "New broadband customer",
        "persona": "Household, first contract",
        "description": "From the first call to a working connection.",
        "status": "draft",
        "target": 80.0,
        "created_at": "2026-05-01T09:30:00Z",
        "updated_at": "2026-05-01T09:30:00Z",
    },
)
class JourneyViewSet(StructureViewSet):
    """Journeys. Archived ones (status archived) are listed with include_archived=true or
    status=archived. A journey is archived through PATCH status, or by DELETE when
    evaluations exist."""

    queryset = Journey.objects.all()
    serializer_class = JourneySerializer
    filterset_class = JourneyFilter
    ordering_fields = ("name", "id", "created_at", "updated_at", "target")
    ordering = ("name", "id")

    def service_create(self, values: dict[str, Any]) -> Model:
        return services.create_journey(
            actor=self.actor, organization=self.membership.organization, **values
        )

    def service_update(self, obj: Journey, values: dict[str, Any]) -> object:
        return services.update_journey(actor=self.actor, journey=obj, data=values)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.guarded_delete(
            lambda row: services.delete_journey(actor=self.actor, journey=row)
        )


@document_structure(
    "stage",
    StageSerializer,
    plural="stages",
    create_example={"journey": 12, "name": "Install", "description": "A technician visits."},
    response_example={
        "id": 40,
        "journey": 12,
        "name": "Install",
        "description": "A technician visits.",
        "position": 2,
        "archived_at": None,
        "created_at": "2026-05-01T09:31:00Z",
    },
)
class StageViewSet(OrderedStructureViewSet):
    """Stages of a journey, ordered by position (0-based, no gaps)."""

    queryset = Stage.objects.all()
    serializer_class = StageSerializer
    filterset_class = StageFilter
    ordering_fields = ("position", "name", "id", "created_at")
    ordering = ("journey_id", "position", "id")

    def parent_rows(self, obj: Stage) -> ParentRows:
        return ((Journey, obj.journey_id),)

    def service_create(self, values: dict[str, Any]) -> Model:
        journey = resolve_reference(
            Journey.objects.for_organization(self.organization_id),
            values.pop("journey"),
            "journey",
            "journey",
        )
        return services.create_stage(actor=self.actor, journey=journey, **values)

    def service_update(self, obj: Stage, values: dict[str, Any]) -> object:
        return services.update_stage(actor=self.actor, stage=obj, data=values)

    def service_move(self, obj: Stage, position: Any) -> object:
        return services.move_stage(actor=self.actor, stage=obj, position=position)

    def service_archive(self, obj: Stage) -> object:
        return services.archive_stage(actor=self.actor, stage=obj)

    def service_restore(self, obj: Stage, position: Any) -> object:
        return services.restore_stage(actor=self.actor, stage=obj, position=position)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.guarded_delete(lambda row: services.delete_stage(actor=self.actor, stage=row))


router = SimpleRouter()
router.register("journeys", JourneyViewSet, basename="journey")
router.register("stages", StageViewSet, basename="stage")

urlpatterns = router.urls
