"""REST API of the team, for managers: /api/v1/members/ and /api/v1/invitations/.

Thin views over team.services (the browser's Team page calls the same functions, so both
refuse the same things with the same messages). Rows are scoped to the request's
organization; every operation, reads included, is for managers: evaluators and viewers
get 403, another organization's ids 404 (the object is looked up before the role).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from accounts.access import signed_in_user
from accounts.models import Membership, Role, User
from core.api.errors import FIELD_ERRORS_SCHEMA, ErrorSerializer, with_access_refusals
from core.api.pagination import NO_SUCH_PAGE
from core.api.tenancy import (
    ORGANIZATION_PARAMETER,
    TenantScopedMixin,
)
from team import services
from team.models import Invitation
from team.serializers import (
    InvitationCreateSerializer,
    InvitationSerializer,
    MemberSerializer,
    MemberUpdateSerializer,
)

NOT_A_MANAGER = OpenApiResponse(ErrorSerializer, description="Only managers manage the team.")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such row in your organization.")
REFUSED = OpenApiResponse(
    FIELD_ERRORS_SCHEMA,
    description="Malformed: an address that is not one, or is line-broken; an unknown role.",
)
# Refusals by the current state, not the request's shape (core.text.conflict): the same
# request is accepted once the state changes.
CONFLICT = OpenApiResponse(
    ErrorSerializer,
    description=(
        "Refused by the current state: a person already a member or already invited, the "
        "last manager demoted or removed, an invitation already used or withdrawn."
    ),
)


class TeamViewSet(TenantScopedMixin, viewsets.GenericViewSet[Any]):
    # Every method, reads included (core.api.tenancy.RolePermission).
    read_roles = write_roles = frozenset({Role.MANAGER})
    role_refusal = "Only managers manage the team."
    throttle_scope = "writes"

    @property
    def actor(self) -> User:
        return signed_in_user(self.request)

    def get_throttles(self) -> list[Any]:
        # Writes only, like the structure API; reads are not rate-limited.
        return [] if self.request.method in ("GET", "HEAD", "OPTIONS") else super().get_throttles()


@extend_schema_view(
    list=extend_schema(
        summary="List the organization's members",
        parameters=[ORGANIZATION_PARAMETER],
        responses=with_access_refusals({200: MemberSerializer(many=True), **NO_SUCH_PAGE}),
    ),
    retrieve=extend_schema(
        summary="One member",
        parameters=[ORGANIZATION_PARAMETER],
        responses=with_access_refusals({200: MemberSerializer, 403: NOT_A_MANAGER, 404: NOT_FOUND}),
    ),
    partial_update=extend_schema(
        summary="Change a member's role",
        description=(
            "Send `role` to change it (an empty body changes nothing). The last manager "
            "of an organization cannot be demoted (409)."
        ),
        parameters=[ORGANIZATION_PARAMETER],
        request=MemberUpdateSerializer,
        responses=with_access_refusals(
            {
                200: MemberSerializer,
                400: REFUSED,
                403: NOT_A_MANAGER,
                409: CONFLICT,
                404: NOT_FOUND,
            }
        ),
    ),
    destroy=extend_schema(
        summary="Remove a member from the organization",
        description=(
            "Their access here ends at once (sessions and API tokens no longer reach this "
            "organization; if it was their only one, their sessions end and their tokens are "
            "revoked). The last manager cannot be removed (409)."
        ),
        parameters=[ORGANIZATION_PARAMETER],
        responses=with_access_refusals(
            {
                204: None,
                400: REFUSED,
                403: NOT_A_MANAGER,
                404: NOT_FOUND,
                409: CONFLICT,
            }
        ),
    ),
)
class MemberViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    TeamViewSet,
):
    """Members of the organization, by name."""

    queryset = Membership.objects.select_related("user").order_by(
        "user__first_name", "user__last_name", "user__email", "pk"
    )
    serializer_class = MemberSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        member = self.get_object()
        body = MemberUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        if "role" not in body.validated_data:  # a merge patch that names nothing changes nothing
            return Response(MemberSerializer(member).data)
        changed = services.change_role(
            actor=self.actor, membership=member, role=body.validated_data["role"]
        )
        return Response(MemberSerializer(changed).data)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.remove_member(actor=self.actor, membership=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(
        summary="List invitations",
        description="Newest first, every status (pending, expired, accepted, revoked).",
        parameters=[ORGANIZATION_PARAMETER],
        responses=with_access_refusals({200: InvitationSerializer(many=True), **NO_SUCH_PAGE}),
    ),
    retrieve=extend_schema(
        summary="One invitation",
        parameters=[ORGANIZATION_PARAMETER],
        responses=with_access_refusals(
            {200: InvitationSerializer, 403: NOT_A_MANAGER, 404: NOT_FOUND}
        ),
    ),
    create=extend_schema(
        summary="Invite someone by email",
        description=(
            "Sends an email with a single-use link that expires after INVITATION_DAYS (7). "
            "The link is never returned here: only the invited address receives it."
        ),
        parameters=[ORGANIZATION_PARAMETER],
        request=InvitationCreateSerializer,
        responses=with_access_refusals(
            {
                201: InvitationSerializer,
                400: REFUSED,
                403: NOT_A_MANAGER,
                409: CONFLICT,
            }
        ),
    ),
    destroy=extend_schema(
        summary="Revoke an invitation",
        description="Its link stops working. An invitation already used or revoked is a 409.",
        parameters=[ORGANIZATION_PARAMETER],
        responses=with_access_refusals(
            {
                204: None,
                400: REFUSED,
                403: NOT_A_MANAGER,
                404: NOT_FOUND,
                409: CONFLICT,
            }
        ),
    ),
    resend=extend_schema(
        summary="Send the invitation again",
        description="A new link with a new expiry; every earlier link stops working.",
        parameters=[ORGANIZATION_PARAMETER],
        request=None,
        responses=with_access_refusals(
            {
                200: InvitationSerializer,
                400: REFUSED,
                403: NOT_A_MANAGER,
                409: CONFLICT,
                404: NOT_FOUND,
            }
        ),
    ),
)
class InvitationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    TeamViewSet,
):
    """Invitations of the organization."""

    queryset = Invitation.objects.select_related("invited_by").order_by("-created_at", "-id")
    serializer_class = InvitationSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]

    def create(self, request: Request) -> Response:
        body = InvitationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        invitation = services.invite(
            actor=self.actor,
            organization=self.membership.organization,
            email=body.validated_data["email"],
            role=body.validated_data["role"],
            link_base=services.link_base(request),
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.revoke_invitation(actor=self.actor, invitation=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"])
    def resend(self, request: Request, pk: str | None = None) -> Response:
        invitation = services.resend_invitation(
            actor=self.actor,
            invitation=self.get_object(),
            link_base=services.link_base(request),
        )
        return Response(InvitationSerializer(invitation).data)


router = SimpleRouter()
router.register("members", MemberViewSet, basename="member")
router.register("invitations", InvitationViewSet, basename="invitation")
urlpatterns = router.urls
