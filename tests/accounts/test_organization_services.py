"""Creating organizations and adding members: bad input is refused with a field error."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts.models import Membership, Organization, Role
from accounts.services import add_member, create_organization


@pytest.mark.django_db
def test_a_taken_slug_is_a_field_error_and_creates_nothing() -> None:
    create_organization(name="Acme", slug="acme")
    with pytest.raises(ValidationError) as refused:
        create_organization(name="Acme Two", slug="acme")
    assert "slug" in refused.value.message_dict
    assert Organization.objects.count() == 1


@pytest.mark.django_db
def test_organizations_with_the_same_name_get_distinct_slugs() -> None:
    first = create_organization(name="Acme")
    second = create_organization(name="Acme")
    assert first.slug != second.slug


@pytest.mark.django_db
@pytest.mark.parametrize("email", ["", "boss@", "@acme.test", "no-at-sign", "two@@acme.test"])
def test_an_invalid_email_is_refused(email: str) -> None:
    org = create_organization(name="Acme")
    with pytest.raises(ValidationError) as refused:
        add_member(organization=org, email=email, role=Role.VIEWER)
    assert refused.value.message_dict == {"email": ["Enter a valid email address."]}
    assert not Membership.objects.exists()


@pytest.mark.django_db
def test_adding_the_same_member_twice_is_refused() -> None:
    org = create_organization(name="Acme")
    add_member(organization=org, email="Ann@Acme.test", role=Role.VIEWER)
    with pytest.raises(ValidationError) as refused:
        add_member(organization=org, email="ann@acme.test", role=Role.MANAGER)
    assert "already a member" in refused.value.message_dict["email"][0]
    assert Membership.objects.get().role == Role.VIEWER
