"""A touch point set up for customer feedback: two questions (scale and yes/no), a comment
box, and an open link tied to a site."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from feedback import services
from feedback.models import FeedbackLink

# The API clients of tests/api (real Bearer tokens), for the feedback-links API tests.
from tests.api.conftest import client_for, manager_api, outsider_api, viewer_api  # noqa: F401
from tests.conftest import Personas
from tests.factories import CriterionFactory, SiteFactory, StageFactory, TouchPointFactory
from touchpoints.models import Criterion, CriterionKind, Site, TouchPoint


@dataclass
class Setup:
    touch_point: TouchPoint
    scale: Criterion
    yes_no: Criterion
    numeric: Criterion
    site: Site
    link: FeedbackLink


def make_setup(personas: Personas, **link_options: object) -> Setup:
    touch_point = TouchPointFactory(
        stage=StageFactory(journey__organization=personas.org), name="Checkout counter"
    )
    scale = CriterionFactory(touch_point=touch_point, kind=CriterionKind.SCALE, scale_size=5)
    yes_no = CriterionFactory(touch_point=touch_point, kind=CriterionKind.YES_NO)
    numeric = CriterionFactory(
        touch_point=touch_point, kind=CriterionKind.NUMERIC, target_value=60, worst_value=600
    )
    site = SiteFactory(organization=personas.org, name="Leeds")
    services.save_questions(
        actor=personas.manager,
        touch_point=touch_point,
        questions=[
            services.QuestionInput(scale.pk, "How friendly were we?"),
            services.QuestionInput(yes_no.pk, "Did you find everything?"),
        ],
        ask_comment=True,
    )
    link = services.create_link(
        actor=personas.manager,
        touch_point=touch_point,
        label="Counter poster",
        site_id=site.pk,
        **link_options,
    )
    return Setup(touch_point, scale, yes_no, numeric, site, link)


@pytest.fixture
def setup(personas: Personas) -> Setup:
    return make_setup(personas)
