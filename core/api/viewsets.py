"""The base every structure endpoint (journeys, stages, touch points, criteria, sites) is
built on, and its OpenAPI description.

Every write goes through the services; views only parse, authorize and answer. Every
detail answer carries an ETag and every detail write needs it back in If-Match
(core.api.concurrency). The order of refusals is the API's one (docs/permissions.md): 404
(not in your organization), 403 (your role), 400 (body shape), 428/412 (precondition), then
the service's rules (400, 404 for ids in the body, 409).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import Model, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

from accounts.access import signed_in_user
from accounts.models import User
from core import text
from core.api.concurrency import (
    ETAG_HEADER,
    IF_MATCH_PARAMETER,
    PRECONDITION_RESPONSES,
    check_if_match,
    etag_for,
    lock_one,
    lock_rows,
)
from core.api.errors import ErrorSerializer, with_access_refusals
from core.api.pagination import NO_SUCH_PAGE
from core.api.parsers import NestingSafeJSONParser
from core.api.serializers import MoveSerializer, RestoreSerializer
from core.api.tenancy import ORGANIZATION_PARAMETER, TenantScopedMixin

ParentRows = Sequence[tuple[type[Model], int]]


def resolve_reference(queryset: QuerySet[Any], value: Any, field: str, noun: str) -> Any:
    """The row an id in a body names, looked up in the caller's organization only.

    A value that is not an integer is a malformed body (400, "Must be an id."); an integer
    that names nothing here is a 404, like an id in a path. Another organization's id gets
    the same answer as an id that does not exist, so a body can neither reach nor probe
    another tenant's rows.
    """
    if not isinstance(value, int) or isinstance(value, bool):
        # Not an id at all (a string, a boolean, null): the body is malformed, a 400.
        raise serializers.ValidationError({field: ["Must be an id."]})
    if 0 < value < 2**63:
        found = queryset.filter(pk=value).first()
        if found is not None:
            return found
    raise serializers.ValidationError(
        {field: [ErrorDetail(f"No such {noun}.", code=text.NOT_FOUND)]}
    )


class StructureViewSet(TenantScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet[Any]):
    """Tenant-scoped CRUD with an ETag on every detail and If-Match on every detail write.

    Subclasses set `queryset`, `serializer_class`, `filterset_class` and implement the
    `service_*` hooks with one service call each.
    """

    throttle_scope = "writes"
    parser_classes = (NestingSafeJSONParser,)

    def get_throttles(self) -> list[BaseThrottle]:
        """Reads are not throttled; writes share the "writes" rate."""
        if self.request.method in SAFE_METHODS:
            return []
        return super().get_throttles()

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Filters and ordering shape the list; a detail route finds archived rows too."""
        if self.action != "list":
            return queryset
        return super().filter_queryset(queryset)

    # --- Hooks -------------------------------------------------------------------------

    def service_create(self, values: dict[str, Any]) -> Model:
        raise NotImplementedError

    def service_update(self, obj: Any, values: dict[str, Any]) -> object:
        raise NotImplementedError

    def parent_rows(self, obj: Any) -> ParentRows:
        """Rows to lock before `obj`, in the order its services lock them (parents first)."""
        return ()

    # --- Mechanics ---------------------------------------------------------------------

    @property
    def actor(self) -> User:
        """The signed-in user (IsAuthenticated has run before any handler)."""
        return signed_in_user(self.request)

    @property
    def organization_id(self) -> int:
        return self.membership.organization_id

    def represent(self, obj: Model) -> dict[str, Any]:
        """The one representation a GET, a write's answer and the ETag are all made from."""
        serializer_class = self.get_serializer_class()
        return dict(serializer_class(obj, context=self.get_serializer_context()).data)

    def respond(self, obj: Model, code: int = status.HTTP_200_OK) -> Response:
        data = self.represent(obj)
        return Response(data, status=code, headers={"ETag": etag_for(data)})

    def parse(self, instance: Model | None = None, *, partial: bool = False) -> dict[str, Any]:
        serializer = self.get_serializer_class()(
            instance, data=self.request.data, partial=partial, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def parse_body(self, serializer_class: type[serializers.Serializer[Any]]) -> dict[str, Any]:
        """An action's body, shape-checked by its own serializer."""
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def guarded(self, obj: Model, parents: ParentRows | None = None) -> Any:
        """In the caller's transaction: lock parents then the row, and check If-Match
        against the row as it is now. Returns the locked row."""
        lock_rows(self.parent_rows(obj) if parents is None else parents)
        row = lock_one(self.get_queryset(), obj.pk)
        check_if_match(self.request, etag_for(self.represent(row)))
        return row

    def guarded_write(
        self,
        change: Callable[[Any], object],
        *,
        obj: Model | None = None,
        parents: ParentRows | None = None,
    ) -> Response:
        """Find (404/403), lock, check the precondition (428/412), change, answer with the new ETag."""
        obj = obj if obj is not None else self.get_object()
        with transaction.atomic():
            row = self.guarded(obj, parents)
            change(row)
            return self.respond(self.get_queryset().get(pk=row.pk))

    def guarded_delete(self, delete: Callable[[Any], bool]) -> Response:
        """204 when really deleted; 200 with the archived object when kept for its evaluations."""
        obj = self.get_object()
        with transaction.atomic():
            row = self.guarded(obj)
            if delete(row):
                return Response(status=status.HTTP_204_NO_CONTENT)
            return self.respond(self.get_queryset().get(pk=row.pk))

    # --- Standard actions --------------------------------------------------------------

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.respond(self.get_object())

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        created = self.service_create(self.parse())
        return self.respond(self.get_queryset().get(pk=created.pk), status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        obj = self.get_object()
        values = self.parse(obj, partial=kwargs.get("partial", False))
        return self.guarded_write(lambda row: self.service_update(row, values), obj=obj)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)


class OrderedStructureViewSet(StructureViewSet):
    """Adds move/archive/restore for rows kept in order among their siblings."""

    def service_move(self, obj: Any, position: Any) -> object:
        raise NotImplementedError

    def service_archive(self, obj: Any) -> object:
        raise NotImplementedError

    def service_restore(self, obj: Any, position: Any) -> object:
        raise NotImplementedError

    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()  # 404/403 before the body is looked at
        position = self.parse_body(MoveSerializer)["position"]
        return self.guarded_write(lambda row: self.service_move(row, position), obj=obj)

    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str | None = None) -> Response:
        return self.guarded_write(self.service_archive)

    @action(detail=True, methods=["post"])
    def restore(self, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()
        position = self.parse_body(RestoreSerializer)["position"]
        return self.guarded_write(lambda row: self.service_restore(row, position), obj=obj)


# --- OpenAPI ---------------------------------------------------------------------------------

V = TypeVar("V", bound=type)

FIELD_ERRORS = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description='Field errors, nothing stored: {"field": ["message", ...]}.',
    examples=[
        OpenApiExample(
            "Field errors",
            value={
                "name": ["This field is required."],
                "target": ["Must be a number from 0 to 100."],
            },
            status_codes=["400"],
        )
    ],
)
ROLE_REFUSED = {403: OpenApiResponse(ErrorSerializer, description="Your role may not do this.")}
NOT_FOUND = {
    404: OpenApiResponse(ErrorSerializer, description="No such object in your organization.")
}
CONFLICT = {
    409: OpenApiResponse(
        ErrorSerializer,
        description=(
            "The change conflicts with the current state (a name already taken, a move of "
            "an archived item, a new parent): nothing stored. `detail` and the field say why."
        ),
    )
}
THROTTLED = {429: OpenApiResponse(ErrorSerializer, description="Too many writes; retry later.")}
DETAIL_WRITE_ERRORS = with_access_refusals(
    {
        400: FIELD_ERRORS,
        **ROLE_REFUSED,
        **NOT_FOUND,
        **CONFLICT,
        **PRECONDITION_RESPONSES,
        **THROTTLED,
    }
)


def document_structure(
    noun: str,
    serializer: type[serializers.Serializer[Any]],
    *,
    plural: str,
    move_request: type[serializers.Serializer[Any]] = MoveSerializer,
    restore_request: type[serializers.Serializer[Any]] | None = RestoreSerializer,
    create_example: Mapping[str, Any],
    response_example: Mapping[str, Any],
) -> Callable[[V], V]:
    """The OpenAPI description of a structure viewset: each present operation with its
    bodies, its ETag/If-Match headers and every error it can answer."""
    request_example = OpenApiExample(
        f"Create a {noun}", value=dict(create_example), request_only=True
    )
    answer_example = OpenApiExample(f"A {noun}", value=dict(response_example), response_only=True)
    written = OpenApiResponse(serializer, description=f"The {noun} as stored; ETag header set.")
    schemas: dict[str, Any] = {
        "list": extend_schema(
            summary=f"List {plural}",
            description="Paginated. Archived rows are left out unless include_archived=true.",
            responses=with_access_refusals(
                {200: serializer(many=True), 400: FIELD_ERRORS, **NO_SUCH_PAGE}
            ),
        ),
        "create": extend_schema(
            summary=f"Create a {noun}",
            request=serializer,
            responses=with_access_refusals(
                {
                    201: written,
                    400: FIELD_ERRORS,
                    **ROLE_REFUSED,
                    **CONFLICT,
                    **THROTTLED,
                }
            ),
            parameters=[ETAG_HEADER],
            examples=[request_example, answer_example],
        ),
        "retrieve": extend_schema(
            summary=f"Read a {noun}",
            description="Also finds archived rows. The ETag header is what writes send back in If-Match.",
            responses=with_access_refusals({200: serializer, **NOT_FOUND}),
            parameters=[ETAG_HEADER],
            examples=[answer_example],
        ),
        "update": extend_schema(
            summary=f"Replace a {noun}'s editable fields",
            request=serializer,
            responses={200: written, **DETAIL_WRITE_ERRORS},
            parameters=[IF_MATCH_PARAMETER, ETAG_HEADER],
        ),
        "partial_update": extend_schema(
            summary=f"Change some of a {noun}'s fields",
            request=serializer,
            responses={200: written, **DETAIL_WRITE_ERRORS},
            parameters=[IF_MATCH_PARAMETER, ETAG_HEADER],
            examples=[
                OpenApiExample("Rename", value={"name": "A clearer name"}, request_only=True),
                answer_example,
            ],
        ),
        "destroy": extend_schema(
            summary=f"Delete a {noun} (archived instead if evaluations depend on it)",
            description=(
                f"204 when the {noun} was deleted. When evaluations depend on it, it is "
                "archived instead and the answer is 200 with the archived object, so no "
                "evaluation is ever lost."
            ),
            request=None,
            responses={
                204: OpenApiResponse(description="Deleted."),
                200: OpenApiResponse(
                    serializer, description="Archived instead of deleted: evaluations depend on it."
                ),
                **DETAIL_WRITE_ERRORS,
            },
            parameters=[IF_MATCH_PARAMETER, ETAG_HEADER],
        ),
        "move": extend_schema(
            summary=f"Move a {noun} to another position",
            description="Positions are 0-based and stay 0..n-1 without gaps among active siblings.",
            request=move_request,
            responses={200: written, **DETAIL_WRITE_ERRORS},
            parameters=[IF_MATCH_PARAMETER, ETAG_HEADER],
            examples=[
                OpenApiExample("Move to the front", value={"position": 0}, request_only=True)
            ],
        ),
        "archive": extend_schema(
            summary=f"Archive a {noun}",
            description="Hides it from lists and new evaluations; its evaluations are kept. Idempotent.",
            request=None,
            responses={200: written, **DETAIL_WRITE_ERRORS},
            parameters=[IF_MATCH_PARAMETER, ETAG_HEADER],
        ),
        "restore": extend_schema(
            summary=f"Restore an archived {noun}",
            description=(
                "Puts it back at `position` (0-based), or last when omitted. Idempotent."
                if restore_request
                else "Makes it available again. Idempotent."
            ),
            request=restore_request,
            responses={200: written, **DETAIL_WRITE_ERRORS},
            parameters=[IF_MATCH_PARAMETER, ETAG_HEADER],
        ),
    }

    def decorate(view: V) -> V:
        present = {name: schema for name, schema in schemas.items() if hasattr(view, name)}
        view = extend_schema_view(**present)(view)
        return extend_schema(parameters=[ORGANIZATION_PARAMETER])(view)

    return decorate
