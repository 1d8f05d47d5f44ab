"""Sites: names unique per organization, even when two managers create one at once."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from touchpoints.models import Site
from touchpoints.services import create_site


def test_a_second_site_with_the_same_name_is_refused(personas: Any) -> None:
    create_site(actor=personas.manager, organization=personas.org, name="Leeds")

    with pytest.raises(ValidationError) as refused:
        create_site(actor=personas.manager, organization=personas.org, name="Leeds")

    assert "already a site called 'Leeds'" in refused.value.message_dict["name"][0]
    assert Site.objects.filter(organization=personas.org).count() == 1


def test_losing_the_race_for_a_name_is_a_field_error_not_a_crash(
    personas: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other manager's insert lands between our check and our insert: the database's
    unique constraint refuses ours, and the caller gets the same field error."""
    create_site(actor=personas.manager, organization=personas.org, name="Leeds")
    monkeypatch.setattr(QuerySet, "exists", lambda self: False)  # our check saw nothing

    with pytest.raises(ValidationError) as refused:
        create_site(actor=personas.manager, organization=personas.org, name="Leeds")

    assert "already a site called 'Leeds'" in refused.value.message_dict["name"][0]
    assert Site.objects.filter(organization=personas.org).count() == 1


def test_the_same_name_in_another_organization_is_fine(personas: Any) -> None:
    create_site(actor=personas.manager, organization=personas.org, name="Leeds")
    create_site(actor=personas.outsider, organization=personas.other_org, name="Leeds")

    assert Site.objects.filter(name="Leeds").count() == 2
