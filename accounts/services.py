"""Writes for organizations, memberships and the audit log."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import AuditEvent, Membership, Organization, Role, User
from core.text import validated_text


def audit_value(value: Any) -> Any:
    """A value as the audit log stores it (JSON): a row as its id, a date as ISO 8601 text,
    lists and mappings value by value, anything else unusual as its text."""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [audit_value(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): audit_value(item) for key, item in value.items()}
    return str(value)


def audit_changes(
    before: models.Model | Mapping[str, Any], after: Mapping[str, Any]
) -> dict[str, list[Any]]:
    """The `changes` of an "update" audit row: `{field: [old, new]}` for every field of
    `after` whose value differs from the one `before` holds (an object's attribute, or a
    mapping's value), both in their stored form.

    The one diff every writer records (the services and the admin's audited saves), so
    the history page reads the same shape whoever made the change."""
    if isinstance(before, models.Model):
        old = {field: getattr(before, field) for field in after}
    else:
        old = {field: before.get(field) for field in after}
    return {
        field: [audit_value(old[field]), audit_value(value)]
        for field, value in after.items()
        if old[field] != value
    }


def record_audit(
    *,
    actor: User | None,
    organization: Organization | int,
    action: str,
    obj: models.Model,
    changes: dict[str, Any] | None = None,
) -> AuditEvent:
    org_id = organization if isinstance(organization, int) else organization.pk
    return AuditEvent.objects.create(
        organization_id=org_id,
        actor=actor,
        journey_id=_journey_id_of(obj),
        action=action,
        object_type=obj._meta.model_name or type(obj).__name__.lower(),
        object_id=obj.pk,
        object_repr=str(obj)[:300],
        changes=changes or {},
    )


def _journey_id_of(obj: models.Model) -> int | None:
    """The journey a piece of structure belongs to: itself, its `journey` column, or (for a
    criterion) its touch point's. None for what hangs off the organization only (sites)."""
    if obj._meta.label == "journeys.Journey":
        return int(obj.pk)
    journey_id = getattr(obj, "journey_id", None)
    if journey_id is None and getattr(obj, "touch_point_id", None) is not None:
        journey_id = obj.touch_point.journey_id  # type: ignore[attr-defined]
    return journey_id


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "organization"
    slug, n = base, 2
    while Organization.objects.filter(slug=slug).exists():
        slug = f"{base}-{n}"
        n += 1
    return slug


def create_organization(*, name: str, slug: str | None = None) -> Organization:
    name = validated_text(name, field="name", max_length=200, required=True)
    if slug is not None:
        slug = validated_text(slug, field="slug", max_length=60, required=True)
    try:
        with transaction.atomic():
            return Organization.objects.create(name=name, slug=slug or _unique_slug(name))
    except IntegrityError:
        # A taken slug, or a concurrent creation that picked the same one.
        raise ValidationError({"slug": ["That slug is taken; choose another."]}) from None


@transaction.atomic
def add_member(
    *, organization: Organization, email: str, role: Role | str, password: str | None = None
) -> Membership:
    """Add a user (created if new) to the organization with a role."""
    if role not in Role.values:
        raise ValidationError({"role": [f"Role must be one of {', '.join(Role.values)}."]})
    email = User.objects.normalize_email(email.strip()).lower()
    try:
        validated_text(email, field="email", max_length=254, required=True)
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": ["Enter a valid email address."]}) from None
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password)
    try:
        with transaction.atomic():
            return Membership.objects.create(user=user, organization=organization, role=role)
    except IntegrityError:
        raise ValidationError(
            {"email": [f"{email} is already a member of {organization.name}."]}
        ) from None


def end_sessions(*, user: User) -> int:
    """Sign `user` out of every browser (ASVS 7.4.2: a deactivated account's sessions end,
    so reactivating it later does not bring an old session back). Returns how many ended.

    Sessions are stored by key, not by user, so this decodes each live session once: one
    row per signed-in browser, which is small at this product's scale, and it runs only
    when an account is deactivated."""
    ended = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        data = session.get_decoded()
        if data.get(SESSION_KEY) == str(user.pk) and HASH_SESSION_KEY in data:
            ended.append(session.session_key)
    Session.objects.filter(session_key__in=ended).delete()
    return len(ended)
