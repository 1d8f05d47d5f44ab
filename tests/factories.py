"""Factories that keep related rows in one organization unless a test asks otherwise."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from accounts.models import Membership, Organization, Role, User
from journeys.models import Journey, JourneyStatus, Stage
from touchpoints.models import (
    Answer,
    Criterion,
    CriterionKind,
    CriterionVersion,
    Evaluation,
    Site,
    Source,
    TouchPoint,
)

PASSWORD = "correct horse battery staple"


class OrganizationFactory(DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    first_name = factory.Faker("first_name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @classmethod
    def _after_postgeneration(cls, instance: User, create: bool, results: Any = None) -> None:
        if create:
            instance.save(update_fields=["password"])


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Role.EVALUATOR


class JourneyFactory(DjangoModelFactory):
    class Meta:
        model = Journey

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Journey {n}")
    status = JourneyStatus.ACTIVE
    target = 80.0


def _next_position(model: Any, **parent: Any) -> int:
    return int(model.objects.filter(archived_at__isnull=True, **parent).count())


class StageFactory(DjangoModelFactory):
    class Meta:
        model = Stage

    journey = factory.SubFactory(JourneyFactory)
    organization = factory.SelfAttribute("journey.organization")
    name = factory.Sequence(lambda n: f"Stage {n}")
    position = factory.LazyAttribute(lambda o: _next_position(Stage, journey=o.journey))


class TouchPointFactory(DjangoModelFactory):
    class Meta:
        model = TouchPoint

    stage = factory.SubFactory(StageFactory)
    journey = factory.SelfAttribute("stage.journey")
    organization = factory.SelfAttribute("stage.organization")
    name = factory.Sequence(lambda n: f"Touch point {n}")
    importance = 3
    position = factory.LazyAttribute(lambda o: _next_position(TouchPoint, stage=o.stage))


class CriterionFactory(DjangoModelFactory):
    """A criterion with its first rubric version (scale 1..5 unless told otherwise)."""

    class Meta:
        model = Criterion

    touch_point = factory.SubFactory(TouchPointFactory)
    organization = factory.SelfAttribute("touch_point.organization")
    name = factory.Sequence(lambda n: f"Criterion {n}")
    position = factory.LazyAttribute(lambda o: _next_position(Criterion, touch_point=o.touch_point))

    kind = CriterionKind.SCALE
    scale_size = 5
    target_value = None
    worst_value = None
    weight = 1.0
    critical = False
    unit = ""

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Criterion:
        rubric = {
            key: kwargs.pop(key)
            for key in (
                "kind",
                "scale_size",
                "target_value",
                "worst_value",
                "weight",
                "critical",
                "unit",
            )
            if key in kwargs
        }
        criterion: Criterion = super()._create(model_class, *args, **kwargs)
        kind = rubric.get("kind", CriterionKind.SCALE)
        version = CriterionVersion.objects.create(
            criterion=criterion,
            number=1,
            kind=kind,
            scale_size=rubric.get("scale_size", 5) if kind == CriterionKind.SCALE else None,
            target_value=rubric.get("target_value"),
            worst_value=rubric.get("worst_value"),
            weight=rubric.get("weight", 1.0),
            critical=rubric.get("critical", False),
            unit=rubric.get("unit", ""),
        )
        criterion.current_version = version
        criterion.save(update_fields=["current_version"])
        return criterion


class SiteFactory(DjangoModelFactory):
    class Meta:
        model = Site

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Site {n}")


class EvaluationFactory(DjangoModelFactory):
    """A row written straight to the table, past submit_evaluation: for tests of what the
    database itself refuses. Everything else should store evaluations through the service."""

    class Meta:
        model = Evaluation

    touch_point = factory.SubFactory(TouchPointFactory)
    organization = factory.SelfAttribute("touch_point.organization")
    journey = factory.SelfAttribute("touch_point.journey")
    evaluator = factory.SubFactory(UserFactory)
    source = Source.SUPERVISOR
    observed_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    submitted_at = factory.LazyFunction(timezone.now)
    rubric_version = factory.SelfAttribute("touch_point.rubric_version")


class AnswerFactory(DjangoModelFactory):
    """An answer under its criterion's current version, on a criterion of the evaluated
    touch point unless a test asks otherwise."""

    class Meta:
        model = Answer

    evaluation = factory.SubFactory(EvaluationFactory)
    criterion = factory.SubFactory(
        CriterionFactory, touch_point=factory.SelfAttribute("..evaluation.touch_point")
    )
    criterion_version = factory.SelfAttribute("criterion.current_version")
    value = 3.0
