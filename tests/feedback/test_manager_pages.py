"""Managers see customer feedback working: responses per link and per day on the touch
point page, customer voices on the map card, and customers via link apart from
staff-entered customer surveys beside the perception gap and in the site breakdown."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from feedback import services
from scoring.services import recompute_journey
from tests.conftest import Personas
from tests.feedback.conftest import Setup
from touchpoints.models import Source
from touchpoints.services import AnswerInput, submit_evaluation

pytestmark = pytest.mark.django_db


def _answer(setup: Setup, value: float, link: object = None) -> None:
    services.submit_response(link=link or setup.link, answers={setup.scale.pk: value})  # type: ignore[arg-type]


def _staff_customer_survey(personas: Personas, setup: Setup) -> None:
    submit_evaluation(
        evaluator=personas.evaluator,
        organization=personas.org,
        touch_point_id=setup.touch_point.pk,
        source=Source.CUSTOMER_SURVEY,
        observed_at=timezone.now(),
        answers=[AnswerInput(setup.scale.pk, 3)],
        site_id=setup.site.pk,
    )


def _text(html: bytes) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.decode()))


def test_touch_point_page_separates_customers_via_link_from_staff_entries(
    personas: Personas, setup: Setup
) -> None:
    no_site = services.create_link(
        actor=personas.manager, touch_point=setup.touch_point, label="Receipt"
    )
    _answer(setup, 5)
    _answer(setup, 4)
    _answer(setup, 2, link=no_site)
    _staff_customer_survey(personas, setup)
    recompute_journey(setup.touch_point.journey_id)

    client = Client()
    client.force_login(personas.viewer)
    page = client.get(reverse("touch-point", args=[setup.touch_point.pk]))
    assert page.status_code == 200
    text = _text(page.content)
    assert "Customers, via link: 3 (customers' own answers" in text
    # Site breakdown: Leeds has 2 via link + 1 staff-entered; no site has 1 via link.
    assert re.search(r"Leeds \S+ 3 2 ", text), text[text.find("By site") :][:300]
    # Per link and per day.
    assert re.search(r"Counter poster Leeds 2 ", text)
    assert re.search(r"Receipt — 1 ", text)
    today = timezone.now().strftime("%a %-d %b")
    assert f"{today} 3" in text
    assert "by a customer, via feedback link" in text
    assert "Set up customer feedback" not in text  # a viewer cannot set it up


def test_map_card_counts_the_customer_voices_its_score_includes(
    personas: Personas, setup: Setup
) -> None:
    client = Client()
    client.force_login(personas.manager)
    journey_url = reverse("journey-map", args=[setup.touch_point.journey_id])
    _staff_customer_survey(personas, setup)
    recompute_journey(setup.touch_point.journey_id)
    assert "Customer voices" not in _text(client.get(journey_url).content)
    _answer(setup, 5)
    _answer(setup, 1)
    # Not in the score until the recompute: the card says what the score includes.
    assert "Customer voices" not in _text(client.get(journey_url).content)
    recompute_journey(setup.touch_point.journey_id)
    assert "Customer voices 2 " in _text(client.get(journey_url).content)


def test_outsider_sees_none_of_it(personas: Personas, setup: Setup) -> None:
    _answer(setup, 5)
    client = Client()
    client.force_login(personas.outsider)
    assert client.get(reverse("touch-point", args=[setup.touch_point.pk])).status_code == 404
    assert client.get(reverse("feedback-setup", args=[setup.touch_point.pk])).status_code == 404
