"""The evaluation form: evaluators pick a touch point and submit through the same service
as the API; a refusal keeps what they typed; viewers and other organizations get nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Role
from journeys.models import JourneyStatus
from tests.conftest import Personas
from tests.factories import (
    CriterionFactory,
    MembershipFactory,
    SiteFactory,
    StageFactory,
    TouchPointFactory,
    UserFactory,
)
from touchpoints.models import Answer, Criterion, CriterionKind, Evaluation, Source, TouchPoint
from touchpoints.services import AnswerInput, create_criterion, submit_evaluation

URL = "/evaluate/"
SCALE_LABELS = ["Ignored", "Cold", "Polite", "Warm", "Made my day"]


@dataclass
class Rubric:
    """A touch point of personas.org with one criterion of each kind, in this order."""

    touch_point: TouchPoint
    scale: Criterion  # 1..5 with labels
    yes_no: Criterion
    numeric: Criterion  # seconds waiting: target 20, worst 120

    def good_post(self, **overrides: Any) -> dict[str, Any]:
        data = {
            "touch_point": str(self.touch_point.pk),
            "client_key": "",
            "source": Source.MYSTERY_SHOPPER,
            "site": "",
            "comment": "Greeted by name, counter spotless.",
            f"answer_{self.scale.pk}": "4",
            f"answer_{self.yes_no.pk}": "1",
            f"answer_{self.numeric.pk}": "35",
        }
        data.update(overrides)
        return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def rubric(personas: Personas) -> Rubric:
    touch_point = TouchPointFactory(
        stage__journey__organization=personas.org,
        stage__journey__name="Vet visit",
        stage__name="Arrive",
        name="Welcome at the counter",
    )
    return Rubric(
        touch_point=touch_point,
        scale=create_criterion(
            actor=personas.manager,
            touch_point=touch_point,
            name="Warmth of the welcome",
            kind=CriterionKind.SCALE,
            scale_size=5,
            scale_labels=SCALE_LABELS,
        ),
        yes_no=CriterionFactory(
            touch_point=touch_point, name="Counter was clean", kind=CriterionKind.YES_NO
        ),
        numeric=CriterionFactory(
            touch_point=touch_point,
            name="Time waiting",
            kind=CriterionKind.NUMERIC,
            target_value=20,
            worst_value=120,
            unit="seconds",
        ),
    )


def signed_in(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def form_url(touch_point: TouchPoint) -> str:
    return f"{URL}?touch_point={touch_point.pk}"


def checked_values(body: str, name: str) -> list[str]:
    """The values of the inputs named `name` the page renders as checked."""
    pattern = rf'<input type="(?:radio|checkbox)" name="{re.escape(name)}"[^>]*>'
    return [
        re.search(r'value="([^"]*)"', tag).group(1)  # type: ignore[union-attr]
        for tag in re.findall(pattern, body)
        if " checked" in tag
    ]


def positions(body: str, *names: str) -> list[int]:
    return [body.index(name) for name in names]


# --- The form as an evaluator sees it -------------------------------------------------------


def test_evaluator_sees_each_criterion_kind_with_big_labelled_controls(
    personas: Personas, rubric: Rubric, client: Client
) -> None:
    response = signed_in(client, personas.evaluator).get(form_url(rubric.touch_point))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Welcome at the counter" in body
    assert "Vet visit › Arrive" in body
    # One fieldset with a legend per criterion.
    assert body.count('<fieldset class="question') == 4  # three criteria and the source
    for criterion in (rubric.scale, rubric.yes_no, rubric.numeric):
        assert f'id="q-{criterion.pk}"' in body
        assert criterion.name in body
    # Scale: one radio per point, labelled with the criterion's own words, plus N/A.
    scale = f"answer_{rubric.scale.pk}"
    assert body.count(f'name="{scale}"') == 6
    for label in SCALE_LABELS:
        assert label in body
    assert f'id="id_{scale}_5" value="na"' in body
    # Yes/no: two radios and Not applicable.
    yes_no = f"answer_{rubric.yes_no.pk}"
    assert re.search(rf'name="{yes_no}" id="id_{yes_no}_0" value="1"', body)
    assert re.search(rf'name="{yes_no}" id="id_{yes_no}_1" value="0"', body)
    assert f'id="id_{yes_no}_2" value="na"' in body
    # Numeric: a number field labelled with its unit, and a Not applicable box.
    numeric = f"answer_{rubric.numeric.pk}"
    assert (
        f'<label for="id_{numeric}" class="numeric__label">Measured value (seconds)</label>' in body
    )
    assert f'type="number" name="{numeric}"' in body
    assert f'name="na_{rubric.numeric.pk}"' in body
    # Every source of the model, a site choice, a comment, CSRF.
    for value, label in Source.choices:
        assert f'value="{value}"' in body
        assert label in body
    assert '<label for="id_site">Site</label>' in body
    assert '<label for="id_comment">' in body
    assert "csrfmiddlewaretoken" in body


def test_a_critical_criterion_offers_no_not_applicable(
    personas: Personas, rubric: Rubric, client: Client
) -> None:
    critical = CriterionFactory(
        touch_point=rubric.touch_point,
        name="Checked the pet's chip",
        kind=CriterionKind.YES_NO,
        critical=True,
    )
    body = signed_in(client, personas.evaluator).get(form_url(rubric.touch_point)).content.decode()

    assert body.count(f'name="answer_{critical.pk}"') == 2
    assert "Critical: must be answered" in body


def test_every_control_has_a_label(personas: Personas, rubric: Rubric, client: Client) -> None:
    body = signed_in(client, personas.evaluator).get(form_url(rubric.touch_point)).content.decode()

    ids = re.findall(r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]*\sid="([^"]+)"', body)
    assert len(ids) > 10
    for control in ids:
        assert f'for="{control}"' in body, f"#{control} has no label"


# --- Submitting ------------------------------------------------------------------------------


def test_valid_post_stores_the_evaluation_and_shows_the_confirmation(
    personas: Personas, rubric: Rubric, client: Client
) -> None:
    site = SiteFactory(organization=personas.org, name="Oslo central")
    signed_in(client, personas.evaluator)

    response = client.post(
        URL,
        rubric.good_post(
            site=str(site.pk), **{f"answer_{rubric.yes_no.pk}": "na", "client_key": "k-1"}
        ),
    )

    evaluation = Evaluation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/evaluate/done/{evaluation.pk}/"
    assert evaluation.touch_point == rubric.touch_point
    assert evaluation.evaluator == personas.evaluator
    assert evaluation.source == Source.MYSTERY_SHOPPER
    assert evaluation.site == site
    assert evaluation.comment == "Greeted by name, counter spotless."
    assert evaluation.client_key == "k-1"
    assert abs(evaluation.observed_at - timezone.now()) < timedelta(minutes=1)
    answers = dict(Answer.objects.values_list("criterion_id", "value"))
    assert answers == {rubric.scale.pk: 4.0, rubric.yes_no.pk: None, rubric.numeric.pk: 35.0}

    page = client.get(response["Location"])
    assert page.status_code == 200
    body = page.content.decode()
    assert "Evaluation saved" in body
    assert "Mystery shopper" in body
    assert "Oslo central" in body
    assert f'href="/evaluate/?touch_point={rubric.touch_point.pk}"' in body  # evaluate another
    assert "Evaluate another" in body
    assert f'href="/touch-points/{rubric.touch_point.pk}/"' in body  # its detail page


def test_numeric_not_applicable_stores_null_whatever_was_typed(
    personas: Personas, rubric: Rubric, client: Client
) -> None:
    signed_in(client, personas.evaluator).post(
        URL, rubric.good_post(**{f"na_{rubric.numeric.pk}": "on"})
    )

    assert Answer.objects.get(criterion=rubric.numeric).value is None


def test_observed_at_is_read_in_the_phones_time_zone(
    personas: Personas, rubric: Rubric, client: Client
) -> None:
    signed_in(client, personas.evaluator).post(
        URL,
        rubric.good_post(observed_at="2026-01-15T09:30", tz="Europe/Oslo"),
    )

    observed = Evaluation.objects.get().observed_at
    assert observed.isoformat() == "2026-01-15T08:30:00+00:00"


def test_a_double_tapped_submit_stores_one_evaluation(
    personas: Personas, rubric: Rubric, client: Client
) -> None:
    signed_in(client, personas.evaluator)
    first = client.post(URL, rubric.good_post(client_key="tap-1"))
    second = client.post(URL, rubric.good_post(client_key="tap-1"))

    assert Evaluation.objects.count() == 1
    assert second.status_code == 302
    assert second["Location"] == first["Location"]


@pytest.mark.parametrize("role", [Role.MANAGER, Role.EVALUATOR])
def test_managers_and_evaluators_may_evaluate(
    personas: Personas, rubric: Rubric, client: Client, role: str
) -> None:
    user = getattr(personas, role)
    response = signed_in(client, user).post(URL, rubric.good_post())

    assert response.status_code == 302
    assert Evaluation.objects.get().evaluator == user


# --- Refusals keep what was typed -----------------------------------------------------------


def test_missing_answers_are_refused_beside_each_field_keeping_the_typed_values(
    personas: Personas, rubric: Rubric, client: Client
) -> None:
    signed_in(client, personas.evaluator)
    data = rubric.good_post(
        **{
            f"answer_{rubric.yes_no.pk}": None,  # not answered
            f"answer_{rubric.numeric.pk}": "",  # no value and no N/A
            "comment": "Waited <long> & nobody came",
            "client_key": "keep-me",
        }
    )

    response = client.post(URL, data)

    assert response.status_code == 400
    assert not Evaluation.objects.exists()
    body = response.content.decode()
    # A summary at the top, linking to each field to fix.
    assert 'class="error-summary"' in body
    assert f'href="#id_answer_{rubric.yes_no.pk}_0">Counter was clean: Choose an answer' in body
    assert f'href="#id_answer_{rubric.numeric.pk}">Time waiting: Give the measured value' in body
    # The message beside each field, which is marked invalid.
    assert f'id="answer_{rubric.yes_no.pk}-error">Choose an answer, or Not applicable.' in body
    assert f'id="answer_{rubric.numeric.pk}-error">Give the measured value' in body
    assert 'aria-invalid="true"' in body
    # Everything typed is still there.
    assert checked_values(body, f"answer_{rubric.scale.pk}") == ["4"]
    assert checked_values(body, "source") == [Source.MYSTERY_SHOPPER]
    assert "Waited &lt;long&gt; &amp; nobody came</textarea>" in body
    assert 'name="client_key" value="keep-me"' in body


def test_a_value_the_service_refuses_is_shown_beside_its_criterion(
    personas: Personas, rubric: Rubric, client: Client
) -> None:
    """The form does not re-check the scale's range: the service's own message comes back."""
    signed_in(client, personas.evaluator)

    response = client.post(
        URL, rubric.good_post(**{f"answer_{rubric.scale.pk}": "9", "comment": "typed"})
    )

    assert response.status_code == 400
    assert not Evaluation.objects.exists()
    body = response.content.decode()
    assert f'id="answer_{rubric.scale.pk}-error">Must be a whole number from 1 to 5.' in body
    assert "Warmth of the welcome: Must be a whole number from 1 to 5." in body  # summary
    assert checked_values(body, f"answer_{rubric.yes_no.pk}") == ["1"]
    assert (
        f'name="answer_{rubric.numeric.pk}" id="id_answer_{rubric.numeric.pk}" value="35"' in body
    )
    assert "typed</textarea>" in body


def test_an_observation_in_the_future_is_refused_with_the_services_message(
    personas: Personas, rubric: Rubric, client: Client
) -> None:
    signed_in(client, personas.evaluator)
    tomorrow = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

    response = client.post(URL, rubric.good_post(observed_at=tomorrow, tz="UTC"))

    assert response.status_code == 400
    assert not Evaluation.objects.exists()
    body = response.content.decode()
    assert "The observation cannot be in the future." in body
    assert f'value="{tomorrow}"' in body
    assert '<details class="observed" open>' in body


def test_no_touch_point_is_refused_and_the_list_is_offered(
    personas: Personas, rubric: Rubric, client: Client
) -> None:
    signed_in(client, personas.evaluator)

    response = client.post(URL, rubric.good_post(touch_point=None))

    assert response.status_code == 400
    assert not Evaluation.objects.exists()
    body = response.content.decode()
    assert "Choose a touch point." in body
    assert 'href="#touch_point-error"' in body
    assert f'href="/evaluate/?touch_point={rubric.touch_point.pk}"' in body


def test_an_archived_journeys_touch_point_is_refused_by_the_service(
    personas: Personas, rubric: Rubric, client: Client
) -> None:
    rubric.touch_point.journey.status = JourneyStatus.ARCHIVED
    rubric.touch_point.journey.save(update_fields=["status"])

    response = signed_in(client, personas.evaluator).post(URL, rubric.good_post())

    assert response.status_code == 400
    assert not Evaluation.objects.exists()
    assert "This journey is archived and takes no new evaluations." in response.content.decode()


# --- Who may not ----------------------------------------------------------------------------


def test_viewer_gets_a_clear_403_and_never_a_form(
    personas: Personas, rubric: Rubric, client: Client
) -> None:
    signed_in(client, personas.viewer)

    for response in (
        client.get(URL),
        client.get(form_url(rubric.touch_point)),
        client.post(URL, rubric.good_post()),
    ):
        assert response.status_code == 403
        body = response.content.decode()
        assert "Your role cannot submit evaluations" in body
        assert '<form method="post" action="/evaluate/"' not in body
    assert not Evaluation.objects.exists()


def test_viewer_is_not_offered_the_evaluate_link(personas: Personas, client: Client) -> None:
    body = signed_in(client, personas.viewer).get("/").content.decode()

    assert 'href="/evaluate/"' not in body


def test_signed_out_visitor_is_sent_to_sign_in(client: Client, rubric: Rubric) -> None:
    response = client.get(form_url(rubric.touch_point))

    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/")


def test_post_without_csrf_token_is_refused(
    personas: Personas, rubric: Rubric, client: Client
) -> None:
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(personas.evaluator)

    response = csrf_client.post(URL, rubric.good_post())

    assert response.status_code == 403
    assert not Evaluation.objects.exists()


def test_other_organizations_touch_point_is_not_found(personas: Personas, client: Client) -> None:
    theirs = TouchPointFactory(stage__journey__organization=personas.other_org, name="Rival desk")
    criterion = CriterionFactory(touch_point=theirs, kind=CriterionKind.YES_NO)
    signed_in(client, personas.evaluator)

    page = client.get(form_url(theirs))
    post = client.post(
        URL,
        {
            "touch_point": str(theirs.pk),
            "source": Source.AUDIT,
            f"answer_{criterion.pk}": "1",
        },
    )

    assert page.status_code == 404
    assert post.status_code == 400
    body = post.content.decode()
    assert "No such touch point." in body
    assert "Rival desk" not in body
    assert not Evaluation.objects.exists()


def test_other_organizations_site_is_refused(
    personas: Personas, rubric: Rubric, client: Client
) -> None:
    theirs = SiteFactory(organization=personas.other_org, name="Rival shop")

    response = signed_in(client, personas.evaluator).post(
        URL, rubric.good_post(site=str(theirs.pk))
    )

    assert response.status_code == 400
    assert "No such site." in response.content.decode()
    assert "Rival shop" not in response.content.decode()
    assert not Evaluation.objects.exists()


def test_someone_elses_confirmation_is_not_found(
    personas: Personas, rubric: Rubric, client: Client
) -> None:
    evaluation = submit_evaluation(
        evaluator=personas.manager,
        organization=personas.org,
        touch_point_id=rubric.touch_point.pk,
        source=Source.AUDIT,
        observed_at=timezone.now(),
        answers=[AnswerInput(rubric.scale.pk, 3)],
    )

    assert (
        signed_in(client, personas.evaluator).get(f"/evaluate/done/{evaluation.pk}/").status_code
        == 404
    )
    client.force_login(personas.outsider)
    assert client.get(f"/evaluate/done/{evaluation.pk}/").status_code == 404


# --- Picking a touch point ------------------------------------------------------------------


def _evaluate(personas: Personas, touch_point: TouchPoint, criterion: Criterion, when: Any) -> None:
    Evaluation.objects.filter(
        pk=submit_evaluation(
            evaluator=personas.evaluator,
            organization=personas.org,
            touch_point_id=touch_point.pk,
            source=Source.SUPERVISOR,
            observed_at=when,
            answers=[AnswerInput(criterion.pk, 3)],
        ).pk
    ).update(submitted_at=when)


def test_recently_used_touch_points_come_first_newest_first(
    personas: Personas, client: Client
) -> None:
    stage = StageFactory(journey__organization=personas.org, journey__name="Airline trip")
    points = {
        name: TouchPointFactory(stage=stage, name=name)
        for name in ("Aardvark check-in", "Boarding call", "Cabin welcome", "Zebra lounge")
    }
    criteria = {name: CriterionFactory(touch_point=tp) for name, tp in points.items()}
    now = timezone.now()
    _evaluate(personas, points["Zebra lounge"], criteria["Zebra lounge"], now - timedelta(days=2))
    _evaluate(
        personas, points["Cabin welcome"], criteria["Cabin welcome"], now - timedelta(hours=1)
    )
    # Someone else's evaluations do not make a touch point recent for this user.
    submit_evaluation(
        evaluator=personas.manager,
        organization=personas.org,
        touch_point_id=points["Aardvark check-in"].pk,
        source=Source.AUDIT,
        observed_at=now,
        answers=[AnswerInput(criteria["Aardvark check-in"].pk, 3)],
    )

    body = signed_in(client, personas.evaluator).get(URL).content.decode()

    recent = body[body.index("Recently used") : body.index('id="all-heading"')]
    assert positions(recent, "Cabin welcome", "Zebra lounge") == sorted(
        positions(recent, "Cabin welcome", "Zebra lounge")
    )
    assert "Aardvark check-in" not in recent
    assert "Boarding call" not in recent
    everything = body[body.index('id="all-heading"') :]
    assert positions(everything, *points) == sorted(positions(everything, *points))


def test_search_filters_the_list_and_htmx_gets_only_the_list(
    personas: Personas, rubric: Rubric, client: Client
) -> None:
    other = TouchPointFactory(stage=rubric.touch_point.stage, name="Paying the bill")
    CriterionFactory(touch_point=other)
    signed_in(client, personas.evaluator)

    page = client.get(URL, {"q": "bill"})
    swap = client.get(URL, {"q": "COUNTER"}, headers={"HX-Request": "true"})

    assert "Paying the bill" in page.content.decode()
    assert "Welcome at the counter" not in page.content.decode()
    assert "<html" in page.content.decode()
    body = swap.content.decode()
    assert "<html" not in body
    assert 'id="touch-point-list"' in body
    assert "Welcome at the counter" in body
    assert "Paying the bill" not in body
    assert 'hx-swap-oob="innerHTML">1 touch point matching “COUNTER”' in body
    assert "HX-Request" in swap["Vary"]


def test_the_list_leaves_out_what_cannot_be_evaluated(
    personas: Personas, rubric: Rubric, client: Client
) -> None:
    TouchPointFactory(stage=rubric.touch_point.stage, name="No criteria yet")
    archived_journey = TouchPointFactory(
        stage__journey__organization=personas.org,
        stage__journey__status=JourneyStatus.ARCHIVED,
        name="Old journey point",
    )
    CriterionFactory(touch_point=archived_journey)
    theirs = TouchPointFactory(stage__journey__organization=personas.other_org, name="Rival desk")
    CriterionFactory(touch_point=theirs)

    body = signed_in(client, personas.evaluator).get(URL).content.decode()

    assert "Welcome at the counter" in body
    for hidden in ("No criteria yet", "Old journey point", "Rival desk"):
        assert hidden not in body


def test_the_list_and_the_form_take_a_bounded_number_of_queries(
    personas: Personas, client: Client, django_assert_max_num_queries: Any
) -> None:
    def build(count: int) -> TouchPoint:
        stage = StageFactory(journey__organization=personas.org)
        last = None
        for _ in range(count):
            last = TouchPointFactory(stage=stage)
            for kind in (CriterionKind.SCALE, CriterionKind.YES_NO):
                CriterionFactory(touch_point=last, kind=kind)
        assert last is not None
        return last

    touch_point = build(3)
    signed_in(client, personas.evaluator)
    client.get(URL)  # warm the session
    with django_assert_max_num_queries(6) as small:
        client.get(URL)
    with django_assert_max_num_queries(8):
        client.get(form_url(touch_point))
    build(30)
    with django_assert_max_num_queries(len(small.captured_queries)):
        client.get(URL)


def test_a_member_of_two_organizations_evaluates_in_the_one_they_chose(
    personas: Personas, rubric: Rubric, client: Client
) -> None:
    both = UserFactory(email="both@example.test")
    MembershipFactory(user=both, organization=personas.org, role=Role.EVALUATOR)
    MembershipFactory(user=both, organization=personas.other_org, role=Role.VIEWER)
    signed_in(client, both)

    client.post("/organization/", {"organization": personas.other_org.pk})
    assert client.get(URL).status_code == 403  # a viewer there
    client.post("/organization/", {"organization": personas.org.pk})
    assert client.post(URL, rubric.good_post()).status_code == 302
    assert Evaluation.objects.get().organization == personas.org


def test_the_confirmation_shows_the_observed_time_in_the_evaluators_time_zone(
    personas: Personas, rubric: Rubric, client: Client
) -> None:
    """The form asked for the time in the phone's zone (tz); the confirmation answers in it,
    not in UTC."""
    signed_in(client, personas.evaluator)
    response = client.post(
        URL, rubric.good_post(observed_at="2026-07-01T09:30", tz="Pacific/Auckland")
    )
    assert response.status_code == 302
    assert response["Location"].endswith("?tz=Pacific%2FAuckland")

    body = client.get(response["Location"]).content.decode()

    evaluation = Evaluation.objects.get()
    assert evaluation.observed_at.isoformat() == "2026-06-30T21:30:00+00:00"
    assert "1 Jul 2026, 09:30 Pacific/Auckland" in body
    # A zone nobody has falls back to the server's (UTC), still saying which it is.
    body = client.get(response["Location"].split("?")[0] + "?tz=Mars/Olympus").content.decode()
    assert "30 Jun 2026, 21:30 UTC" in body
