"""The Sites page: a manager creates, renames, re-codes, archives and restores sites; the
evaluation form offers the active ones; evaluators and viewers are refused, another
organization's sites are 404."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent
from tests.conftest import Personas
from tests.factories import CriterionFactory, SiteFactory, TouchPointFactory
from touchpoints.models import Site


def signed_in(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def test_a_manager_runs_the_sites_and_the_evaluation_form_offers_them(personas: Personas) -> None:
    touch_point = TouchPointFactory(stage__journey__organization=personas.org)
    CriterionFactory(touch_point=touch_point)
    manager = signed_in(personas.manager)
    assert (
        manager.post(reverse("site-create"), {"name": "Leeds station", "code": "LDS"}).status_code
        == 302
    )
    site = Site.objects.get(organization=personas.org)
    form = manager.get(reverse("evaluate"), {"touch_point": touch_point.pk}).content
    assert b">Leeds station</option>" in form

    page = manager.post(
        reverse("site-update", args=[site.pk]), {"name": "Leeds {City}", "code": "LC"}, follow=True
    )
    assert "Site saved." in page.content.decode()
    site.refresh_from_db()
    assert (site.name, site.code) == ("Leeds {City}", "LC")
    page = manager.post(reverse("site-archive", args=[site.pk]), follow=True)
    assert (
        "Site Leeds {City} archived: it leaves the evaluation form; its evaluations stay."
        in page.content.decode()
    )
    site.refresh_from_db()
    assert site.archived_at is not None
    form = manager.get(reverse("evaluate"), {"touch_point": touch_point.pk}).content
    assert b">Leeds {City}</option>" not in form, "archived: off the form"
    page = manager.post(reverse("site-restore", args=[site.pk]), follow=True)
    assert "Site Leeds {City} restored." in page.content.decode()
    site.refresh_from_db()
    assert site.archived_at is None
    assert AuditEvent.objects.filter(object_type="site").count() >= 4


@pytest.mark.parametrize(
    ("name", "message"),
    [("S" * 10_000, b"at most 200 characters"), ("", b"required")],
)
def test_a_bad_site_is_refused_and_nothing_is_stored(
    personas: Personas, name: str, message: bytes
) -> None:
    response = signed_in(personas.manager).post(reverse("site-create"), {"name": name})
    assert response.status_code == 400 and message in response.content
    assert not Site.objects.exists()


@pytest.mark.parametrize("who", ["evaluator", "viewer"])
def test_evaluators_and_viewers_cannot_change_sites(personas: Personas, who: str) -> None:
    site = SiteFactory(organization=personas.org, name="Kept")
    client = signed_in(getattr(personas, who))
    assert client.get(reverse("sites")).status_code == 403
    assert client.post(reverse("site-create"), {"name": "Mine"}).status_code == 403
    assert client.post(reverse("site-update", args=[site.pk]), {"name": "Mine"}).status_code == 403
    assert client.post(reverse("site-archive", args=[site.pk])).status_code == 403
    site.refresh_from_db()
    assert site.name == "Kept" and site.archived_at is None


def test_another_organizations_sites_are_404(personas: Personas) -> None:
    site = SiteFactory(organization=personas.org, name="Ours")
    outsider = signed_in(personas.outsider)
    for route in ("site-update", "site-archive", "site-restore"):
        assert outsider.post(reverse(route, args=[site.pk]), {"name": "Theirs"}).status_code == 404
    assert b"Ours" not in outsider.get(reverse("sites")).content
    site.refresh_from_db()
    assert site.name == "Ours" and site.archived_at is None
