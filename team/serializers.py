"""API shapes of members and invitations; the rules live in team.services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Membership, Role
from team.models import Invitation, InvitationStatus

EMAIL_MAX = 254  # notify.services.clean_address


class MemberSerializer(serializers.ModelSerializer[Membership]):
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.get_full_name", read_only=True)
    last_sign_in = serializers.DateTimeField(
        source="user.last_login", read_only=True, allow_null=True
    )
    is_active = serializers.BooleanField(
        source="user.is_active",
        read_only=True,
        help_text="False once an admin deactivated the account.",
    )
    joined_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "name", "role", "last_sign_in", "is_active", "joined_at"]
        read_only_fields = fields


class MemberUpdateSerializer(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.ModelSerializer[Invitation]):
    status = serializers.ChoiceField(choices=InvitationStatus.choices, read_only=True)
    invited_by = serializers.EmailField(source="invited_by.email", read_only=True, allow_null=True)

    class Meta:
        model = Invitation
        fields = [
            "id",
            "email",
            "role",
            "status",
            "invited_by",
            "sent_at",
            "expires_at",
            "accepted_at",
            "revoked_at",
            "created_at",
        ]
        read_only_fields = fields


@extend_schema_field(
    {"type": "string", "format": "email", "maxLength": EMAIL_MAX, "pattern": r"^[^\r\n]*$"}
)
class _AddressField(serializers.CharField):
    """Text of any length here; notify.services.clean_address judges it, and the schema
    states what it accepts: an email address (Django's validator), one line, at most 254
    characters."""


@extend_schema_field(serializers.ChoiceField(choices=Role.choices))
class _RoleField(serializers.CharField):
    """Text here; team.services says which roles exist (with its own message)."""


class InvitationCreateSerializer(serializers.Serializer[Any]):
    """Shape only: the service says what is wrong with the values (the schema says what it
    accepts, issue 19)."""

    email = _AddressField(trim_whitespace=False)
    role = _RoleField()
