"""REST API for touch points, criteria and sites, on the structure base of core.api.viewsets:
tenant-scoped, an ETag on every detail, If-Match on every detail write, services for
every write."""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from rest_framework.decorators import action
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
from journeys.models import Stage
from touchpoints import services
from touchpoints.filters import CriterionFilter, SiteFilter, TouchPointFilter
from touchpoints.models import Criterion, Site, TouchPoint
from touchpoints.serializers import (
    CriterionSerializer,
    SiteSerializer,
    TouchPointMoveSerializer,
    TouchPointSerializer,
)


@document_structure(
    "touch point",
    TouchPointSerializer,
    plural="touch points",
    move_request=TouchPointMoveSerializer,
    create_example={
        "stage": 40,
        "name": "Technician arrives",
        "channel": "in_person",
        "owner_team": "Field service",
        "importance": 5,
        "target": 85,
    },
    response_example={
        "id": 101,
        "journey": 12,
        "stage": 40,
        "name": "Technician arrives",
        "description": "",
        "channel": "in_person",
        "owner_team": "Field service",
        "importance": 5,
        "target": 85.0,
        "position": 0,
        "archived_at": None,
        "created_at": "2026-05-01T09:32:00Z",
    },
)
class TouchPointViewSet(OrderedStructureViewSet):
    """Touch points (moments of truth), ordered by position (0-based) inside their stage."""

    queryset = TouchPoint.objects.all()
    serializer_class = TouchPointSerializer
    filterset_class = TouchPointFilter
    ordering_fields = ("position", "name", "id", "created_at", "importance")
    # Journey order: by the stage's place in the journey, then the touch point's in the stage.
    ordering = ("journey_id", "stage__position", "position", "id")

    def parent_rows(self, obj: TouchPoint) -> ParentRows:
        return ((Stage, obj.stage_id),)

    def service_create(self, values: dict[str, Any]) -> Model:
        stage = self._stage(values.pop("stage"))
        return services.create_touch_point(actor=self.actor, stage=stage, **values)

    def service_update(self, obj: TouchPoint, values: dict[str, Any]) -> object:
        return services.update_touch_point(actor=self.actor, touch_point=obj, data=values)

    # The stubs type an @action by the class it is defined in, so an action overriding
    # another differs from it in the type of `self` alone: the signature is the same.
    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk: str | None = None) -> Response:  # type: ignore[override]
        """Reorder inside its stage, or, with `stage`, move into another stage of its journey."""
        touch_point = self.get_object()
        body = self.parse_body(TouchPointMoveSerializer)
        stage = None if body["stage"] is None else self._stage(body["stage"])
        # Both stages locked in id order, as the service locks them.
        stage_ids = sorted({touch_point.stage_id, stage.pk if stage else touch_point.stage_id})
        return self.guarded_write(
            lambda row: services.move_touch_point(
                actor=self.actor, touch_point=row, position=body["position"], stage=stage
            ),
            obj=touch_point,
            parents=[(Stage, stage_id) for stage_id in stage_ids],
        )

    def service_archive(self, obj: TouchPoint) -> object:
        return services.archive_touch_point(actor=self.actor, touch_point=obj)

    def service_restore(self, obj: TouchPoint, position: Any) -> object:
        return services.restore_touch_point(actor=self.actor, touch_point=obj, position=position)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.guarded_delete(
            lambda row: services.delete_touch_point(actor=self.actor, touch_point=row)
        )

    def _stage(self, value: Any) -> Stage:
        return resolve_reference(  # type: ignore[no-any-return]
            Stage.objects.for_organization(self.organization_id), value, "stage", "stage"
        )


@document_structure(
    "criterion",
    CriterionSerializer,
    plural="criteria",
    create_example={
        "touch_point": 101,
        "name": "Arrived within the booked slot",
        "kind": "yes_no",
        "weight": 2,
        "critical": True,
    },
    response_example={
        "id": 501,
        "touch_point": 101,
        "name": "Arrived within the booked slot",
        "description": "",
        "kind": "yes_no",
        "scale_size": None,
        "scale_labels": [],
        "unit": "",
        "target_value": None,
        "worst_value": None,
        "weight": 2.0,
        "critical": True,
        "version": 1,
        "position": 0,
        "archived_at": None,
        "created_at": "2026-05-01T09:33:00Z",
    },
)
class CriterionViewSet(OrderedStructureViewSet):
    """Criteria of a touch point, ordered by position (0-based), each with its current rubric.
    A rubric change (kind, scale, target, weight, ...) makes a new rubric version; answers
    keep the version they were given under."""

    queryset = Criterion.objects.select_related("current_version")
    serializer_class = CriterionSerializer
    filterset_class = CriterionFilter
    ordering_fields = ("position", "name", "id", "created_at")
    ordering = ("touch_point_id", "position", "id")

    def parent_rows(self, obj: Criterion) -> ParentRows:
        return ((TouchPoint, obj.touch_point_id),)

    def service_create(self, values: dict[str, Any]) -> Model:
        touch_point = resolve_reference(
            TouchPoint.objects.for_organization(self.organization_id),
            values.pop("touch_point"),
            "touch_point",
            "touch point",
        )
        return services.create_criterion(actor=self.actor, touch_point=touch_point, **values)

    def service_update(self, obj: Criterion, values: dict[str, Any]) -> object:
        return services.update_criterion(actor=self.actor, criterion=obj, data=values)

    def service_move(self, obj: Criterion, position: Any) -> object:
        return services.move_criterion(actor=self.actor, criterion=obj, position=position)

    def service_archive(self, obj: Criterion) -> object:
        return services.archive_criterion(actor=self.actor, criterion=obj)

    def service_restore(self, obj: Criterion, position: Any) -> object:
        return services.restore_criterion(actor=self.actor, criterion=obj, position=position)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.guarded_delete(
            lambda row: services.delete_criterion(actor=self.actor, criterion=row)
        )


@document_structure(
    "site",
    SiteSerializer,
    plural="sites",
    restore_request=None,
    create_example={"name": "Leeds call centre", "code": "LDS-CC"},
    response_example={
        "id": 7,
        "name": "Leeds call centre",
        "code": "LDS-CC",
        "archived_at": None,
        "created_at": "2026-05-01T09:34:00Z",
    },
)
class SiteViewSet(StructureViewSet):
    """Places evaluations are made at. Sites are archived, never deleted: evaluations keep them."""

    queryset = Site.objects.all()
    serializer_class = SiteSerializer
    filterset_class = SiteFilter
    ordering_fields = ("name", "code", "id", "created_at")
    ordering = ("name", "id")

    def service_create(self, values: dict[str, Any]) -> Model:
        return services.create_site(
            actor=self.actor, organization=self.membership.organization, **values
        )

    def service_update(self, obj: Site, values: dict[str, Any]) -> object:
        return services.update_site(actor=self.actor, site=obj, data=values)

    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str | None = None) -> Response:
        return self.guarded_write(lambda row: services.archive_site(actor=self.actor, site=row))

    @action(detail=True, methods=["post"])
    def restore(self, request: Request, pk: str | None = None) -> Response:
        return self.guarded_write(lambda row: services.restore_site(actor=self.actor, site=row))


router = SimpleRouter()
router.register("touchpoints", TouchPointViewSet, basename="touchpoint")
router.register("criteria", CriterionViewSet, basename="criterion")
router.register("sites", SiteViewSet, basename="site")

urlpatterns = router.urls
