"""REST API of the alerts app: the caller's notifications, their email choices, actions,
and (managers only) webhook endpoints and deliveries. Tenant-scoped like every endpoint:
another organization's ids answer 404, roles are checked after the lookup. Writes go
through alerts.services and alerts.delivery, the same as the browser's."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from accounts.access import signed_in_user
from accounts.models import Role, User
from alerts import delivery, services
from alerts.models import (
    Action,
    EmailMode,
    Notification,
    NotificationSetting,
    WebhookDelivery,
    WebhookEndpoint,
)
from core.api.concurrency import etag_for
from core.api.errors import with_access_refusals
from core.api.parsers import NestingSafeJSONParser
from core.api.tenancy import (
    EVERY_ROLE,
    ORGANIZATION_PARAMETER,
    TenantScopedMixin,
    request_membership,
)
from core.api.viewsets import CONFLICT as CONFLICT_RESPONSE
from core.api.viewsets import FIELD_ERRORS
from core.text import not_found
from journeys.models import Journey
from touchpoints.models import TouchPoint

# --- Serializers (shape only: the services hold the rules) ---------------------------------


class EventSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    type = serializers.CharField(source="kind")
    summary = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    journey = serializers.IntegerField(source="journey_id", allow_null=True)
    touch_point = serializers.IntegerField(source="touch_point_id", allow_null=True)
    action = serializers.IntegerField(source="action_id", allow_null=True)
    figures = serializers.DictField(source="data")


class NotificationSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    event = EventSerializer()
    email = serializers.ChoiceField(choices=EmailMode.choices)
    read_at = serializers.DateTimeField(allow_null=True)
    emailed_at = serializers.DateTimeField(allow_null=True)


class MarkReadSerializer(serializers.Serializer[Any]):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        max_length=500,
        help_text="Notification ids to mark read; leave out to mark every one read.",
    )


class SettingSerializer(serializers.Serializer[Any]):
    journey = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    mode = serializers.ChoiceField(
        choices=EmailMode.choices,
        allow_null=True,
        help_text="immediate, digest or none; null returns to the default.",
    )


class ActionSerializer(serializers.ModelSerializer[Action]):
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = Action
        fields = [
            "id",
            "journey",
            "touch_point",
            "description",
            "owner",
            "due",
            "state",
            "overdue",
            "review_days",
            "opened_by",
            "opened_at",
            "done_at",
            "baseline_n",
            "baseline_mean",
            "baseline_smoothed",
            "baseline_ci_low",
            "baseline_ci_high",
            "baseline_window_start",
            "baseline_window_end",
            "evidence_n",
            "evidence_mean",
            "evidence_sd",
            "evidence_low",
            "judged_at",
        ]
        read_only_fields = fields

    def get_overdue(self, obj: Action) -> bool:
        from alerts.selectors import _line

        return _line(obj, self.context["today"]).overdue


class ActionCreateSerializer(serializers.Serializer[Any]):
    touch_point = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    description = serializers.CharField(max_length=2000, trim_whitespace=False)
    owner = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    due = serializers.DateField(required=False, allow_null=True)


class EndpointSerializer(serializers.ModelSerializer[WebhookEndpoint]):
    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "enabled",
            "disabled_at",
            "disabled_reason",
            "failing_since",
            "created_at",
        ]
        read_only_fields = fields


class EndpointCreatedSerializer(EndpointSerializer):
    secret = serializers.CharField(help_text="Signing secret, returned only here, once.")

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class EndpointWriteSerializer(serializers.Serializer[Any]):
    """A registration (url and event_types required) or, partial, a change. The schema says
    what alerts.delivery accepts: at least one event type, each one of the known kinds."""

    url = serializers.CharField(max_length=500, trim_whitespace=False)
    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True, trim_whitespace=False
    )
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=delivery.EVENT_TYPES),
        min_length=1,
        max_length=20,
    )
    enabled = serializers.BooleanField(required=False)


class AttemptSerializer(serializers.Serializer[Any]):
    at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField()
    error = serializers.CharField()


class DeliverySerializer(serializers.ModelSerializer[WebhookDelivery]):
    attempt_log = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "event",
            "msg_id",
            "event_type",
            "state",
            "attempts",
            "next_attempt_at",
            "created_at",
            "attempt_log",
        ]
        read_only_fields = fields


# --- Roles (core.api.tenancy.RolePermission reads them) --------------------------------------

# Webhook endpoints' secrets and delivery logs are the managers', reads included.
MANAGERS = frozenset({Role.MANAGER})
MANAGERS_REFUSAL = "Only managers manage webhooks."


def _tagged(response: Response) -> Response:
    """An ETag on a detail, as every detail of the API has (no If-Match is asked here:
    these objects change through their actions, not by replacing the representation)."""
    response["ETag"] = etag_for(response.data)
    return response


REFUSALS = {400: FIELD_ERRORS}


# --- Notifications -------------------------------------------------------------------------


@extend_schema(tags=["notifications"], parameters=[ORGANIZATION_PARAMETER])
class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[Notification]):
    """The caller's own feed in the organization, newest first."""

    parser_classes = [NestingSafeJSONParser]

    serializer_class = NotificationSerializer
    write_roles = EVERY_ROLE  # the services decide what each role may write

    def get_queryset(self) -> QuerySet[Notification]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return Notification.objects.none()
        membership = request_membership(self.request)
        rows = (
            Notification.objects.filter(
                user_id=membership.user_id, organization_id=membership.organization_id
            )
            .select_related("event")
            .order_by("-event__occurred_at", "-id")
        )
        if self.request.query_params.get("unread") in ("true", "1"):
            rows = rows.filter(read_at__isnull=True)
        return rows

    @extend_schema(
        summary="List your notifications",
        responses=with_access_refusals({200: NotificationSerializer(many=True)}),
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Mark notifications read",
        request=MarkReadSerializer,
        responses=with_access_refusals(
            {
                200: inline_serializer("MarkedRead", {"marked": serializers.IntegerField()}),
                **REFUSALS,
            }
        ),
    )
    @action(detail=False, methods=["post"], url_path="read")
    def read(self, request: Request) -> Response:
        body = MarkReadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        marked = services.mark_read(
            user=signed_in_user(request),
            organization_id=request_membership(request).organization_id,
            notification_ids=body.validated_data.get("ids"),
        )
        return Response({"marked": marked})


@extend_schema(tags=["notifications"], parameters=[ORGANIZATION_PARAMETER])
class NotificationSettingViewSet(viewsets.GenericViewSet[NotificationSetting]):
    """How the caller hears each journey's events by email."""

    parser_classes = [NestingSafeJSONParser]

    write_roles = EVERY_ROLE  # the services decide what each role may write
    serializer_class = SettingSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[NotificationSetting]:
        return NotificationSetting.objects.none()

    @extend_schema(
        summary="Your email choice per journey (null: the default)",
        responses=with_access_refusals({200: SettingSerializer(many=True)}),
    )
    def list(self, request: Request) -> Response:
        membership = request_membership(request)
        chosen = dict(
            NotificationSetting.objects.filter(membership=membership).values_list(
                "journey_id", "mode"
            )
        )
        journeys = Journey.objects.for_organization(membership.organization_id).order_by("id")
        return Response([{"journey": j.pk, "mode": chosen.get(j.pk)} for j in journeys])

    @extend_schema(
        summary="Choose how you hear one journey's events",
        request=SettingSerializer,
        responses=with_access_refusals({200: SettingSerializer, **REFUSALS}),
        examples=[OpenApiExample("Daily digest", value={"journey": 1, "mode": "digest"})],
    )
    def create(self, request: Request) -> Response:
        body = SettingSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        membership = request_membership(request)
        journey = (
            Journey.objects.for_organization(membership.organization_id)
            .filter(pk=body.validated_data["journey"])
            .first()
        )
        if journey is None:
            raise DjangoValidationError({"journey": [not_found("No such journey.")]})
        mode = body.validated_data["mode"]
        if mode is None:
            NotificationSetting.objects.filter(membership=membership, journey=journey).delete()
        else:
            services.set_notification_mode(
                actor=signed_in_user(request),
                membership=membership,
                journey=journey,
                mode=mode,
            )
        return Response({"journey": journey.pk, "mode": mode})


# --- Actions -------------------------------------------------------------------------------


@extend_schema(tags=["actions"], parameters=[ORGANIZATION_PARAMETER])
class ActionViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Action],
):
    """Actions on touch points, judged by re-measurement (docs/action-verification.md)."""

    parser_classes = [NestingSafeJSONParser]

    queryset = Action.objects.select_related("organization").order_by("-opened_at", "-id")
    serializer_class = ActionSerializer
    write_roles = EVERY_ROLE  # the services decide what each role may write

    def get_queryset(self) -> QuerySet[Action]:
        rows = super().get_queryset()
        touch_point = self.request.query_params.get("touch_point", "")
        if touch_point.isascii() and touch_point.isdecimal() and len(touch_point) < 19:
            rows = rows.filter(touch_point_id=int(touch_point))
        state = self.request.query_params.get("state")
        if state:
            rows = rows.filter(state=state)
        return rows

    def get_serializer_context(self) -> dict[str, Any]:
        from django.utils import timezone

        return {**super().get_serializer_context(), "today": timezone.now().date()}

    @extend_schema(
        summary="List actions", responses=with_access_refusals({200: ActionSerializer(many=True)})
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="One action", responses=with_access_refusals({200: ActionSerializer}))
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return _tagged(super().retrieve(request, *args, **kwargs))

    @extend_schema(
        summary="Open an action (managers); the touch point's snapshot becomes its baseline",
        request=ActionCreateSerializer,
        responses=with_access_refusals({201: ActionSerializer, **REFUSALS, **CONFLICT_RESPONSE}),
        examples=[
            OpenApiExample(
                "Open",
                # Ids of the demo organization (a fresh `make demo`), so the example is
                # accepted as it is there (issue 19).
                value={
                    "touch_point": 12,
                    "description": "Greet returning customers by name",
                    "owner": 1,
                    "due": "2026-06-30",
                },
                request_only=True,
            )
        ],
    )
    def create(self, request: Request) -> Response:
        membership = request_membership(request)
        if membership.role != Role.MANAGER:
            raise exceptions.PermissionDenied("Only managers open actions.")
        body = ActionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        touch_point = (
            TouchPoint.objects.for_organization(membership.organization_id)
            .filter(pk=data["touch_point"])
            .first()
        )
        if touch_point is None:
            raise DjangoValidationError({"touch_point": [not_found("No such touch point.")]})
        created = services.open_action(
            actor=signed_in_user(request),
            touch_point=touch_point,
            description=data["description"],
            owner_id=data["owner"],
            due=data.get("due"),
        )
        return Response(self.get_serializer(created).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Mark done (the owner or a manager): evidence counts from now on",
        request=None,
        responses=with_access_refusals({200: ActionSerializer, **REFUSALS, **CONFLICT_RESPONSE}),
    )
    @action(detail=True, methods=["post"])
    def done(self, request: Request, pk: str | None = None) -> Response:
        found = self.get_object()
        services.mark_action_done(actor=signed_in_user(request), action=found)
        services.judge_action(found.pk)
        return Response(self.get_serializer(Action.objects.get(pk=found.pk)).data)


# --- Webhooks ------------------------------------------------------------------------------

PAYLOAD_EXAMPLE = {
    "type": "weak_link.entered",
    "timestamp": "2026-06-01T08:15:02.118Z",
    "data": {
        "event_id": 4411,
        "organization": "northwind",
        "summary": "“Technician arrives” became a weak link: smoothed 61.3, target 85.0.",
        "journey": {"id": 12, "name": "New broadband customer"},
        "touch_point": {"id": 101, "name": "Technician arrives"},
        "action_id": None,
        "figures": {
            "status_before": "at_risk",
            "status": "weak_link",
            "n": 23,
            "mean": 58.9,
            "smoothed": 61.3,
            "ci_low": 50.1,
            "ci_high": 67.7,
            "target": 85.0,
            "priority": 118.5,
            "journey_score": 77.2,
        },
    },
}


@extend_schema(tags=["webhooks"], parameters=[ORGANIZATION_PARAMETER])
class WebhookEndpointViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[WebhookEndpoint],
):
    """Where events are posted, signed as Standard Webhooks (managers only)."""

    parser_classes = [NestingSafeJSONParser]

    queryset = WebhookEndpoint.objects.select_related("organization").order_by("id")
    serializer_class = EndpointSerializer
    read_roles = write_roles = MANAGERS
    role_refusal = MANAGERS_REFUSAL

    @property
    def actor(self) -> User:
        return signed_in_user(self.request)

    @extend_schema(
        summary="List endpoints",
        responses=with_access_refusals({200: EndpointSerializer(many=True)}),
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="One endpoint", responses=with_access_refusals({200: EndpointSerializer})
    )
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return _tagged(super().retrieve(request, *args, **kwargs))

    @extend_schema(
        summary="Register an endpoint; its signing secret is in this response only",
        request=EndpointWriteSerializer,
        responses=with_access_refusals({201: EndpointCreatedSerializer, **REFUSALS}),
        examples=[
            OpenApiExample(
                "Register",
                value={
                    "url": "https://hooks.example.com/touchstone",
                    "description": "Service desk",
                    "event_types": ["weak_link.entered", "evaluation.critical_failure"],
                },
                request_only=True,
            )
        ],
    )
    def create(self, request: Request) -> Response:
        body = EndpointWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = {k: v for k, v in body.validated_data.items() if k != "enabled"}
        endpoint, secret = delivery.register_endpoint(
            actor=self.actor, organization=request_membership(request).organization, data=data
        )
        shown = EndpointCreatedSerializer(endpoint).data
        shown["secret"] = secret
        return Response(shown, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change an endpoint (url, description, event types, enabled)",
        request=EndpointWriteSerializer,
        responses=with_access_refusals({200: EndpointSerializer, **REFUSALS}),
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        endpoint = self.get_object()
        body = EndpointWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        delivery.update_endpoint(
            actor=self.actor, endpoint=endpoint, data=dict(body.validated_data)
        )
        endpoint.refresh_from_db()
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(summary="Remove an endpoint", responses=with_access_refusals({204: None}))
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        endpoint = self.get_object()
        delivery.delete_endpoint(actor=self.actor, endpoint=endpoint)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Send a test event (type webhook.test)",
        request=None,
        responses=with_access_refusals({202: DeliverySerializer}),
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        endpoint = self.get_object()
        sent = delivery.send_test(actor=self.actor, endpoint=endpoint)
        return Response(DeliverySerializer(sent).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["webhooks"], parameters=[ORGANIZATION_PARAMETER])
class WebhookDeliveryViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[WebhookDelivery],
):
    """Each message to each endpoint, with every attempt's status and latency."""

    parser_classes = [NestingSafeJSONParser]

    queryset = WebhookDelivery.objects.prefetch_related("attempt_log").order_by(
        "-created_at", "-id"
    )
    serializer_class = DeliverySerializer
    read_roles = write_roles = MANAGERS
    role_refusal = MANAGERS_REFUSAL

    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        rows = super().get_queryset()
        endpoint = self.request.query_params.get("endpoint", "")
        if endpoint.isascii() and endpoint.isdecimal() and len(endpoint) < 19:
            rows = rows.filter(endpoint_id=int(endpoint))
        return rows

    @extend_schema(
        summary="List deliveries",
        responses=with_access_refusals({200: DeliverySerializer(many=True)}),
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="One delivery with its attempts",
        responses=with_access_refusals({200: DeliverySerializer}),
    )
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return _tagged(super().retrieve(request, *args, **kwargs))

    @extend_schema(
        summary="Send again, same webhook-id and body, fresh retries",
        request=None,
        responses=with_access_refusals({202: DeliverySerializer}),
    )
    @action(detail=True, methods=["post"])
    def redeliver(self, request: Request, pk: str | None = None) -> Response:
        found = self.get_object()
        sent = delivery.redeliver(actor=signed_in_user(request), delivery=found)
        return Response(DeliverySerializer(sent).data, status=status.HTTP_202_ACCEPTED)


router = SimpleRouter()
router.register("notifications", NotificationViewSet, basename="notification")
router.register(
    "notification-settings", NotificationSettingViewSet, basename="notification-setting"
)
router.register("actions", ActionViewSet, basename="action")
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="webhook-endpoint")
router.register("webhook-deliveries", WebhookDeliveryViewSet, basename="webhook-delivery")
urlpatterns = router.urls
