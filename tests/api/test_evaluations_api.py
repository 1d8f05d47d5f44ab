"""/api/v1/evaluations/: submit one or a batch (all or none), list with filters, read one.

Who may do what, what another organization's ids get (S2), what a client may not set
(S4), errors by field and by batch index, and the number of queries a page costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Organization
from scoring.models import StaleMark
from tests.factories import CriterionFactory, SiteFactory, TouchPointFactory
from touchpoints import services
from touchpoints.evaluations_api import SubmissionThrottle
from touchpoints.models import (
    Answer,
    Criterion,
    CriterionKind,
    Evaluation,
    Site,
    Source,
    TouchPoint,
)
from touchpoints.services import (
    KEY_TAKEN,
    MAX_BATCH,
    AnswerInput,
    EvaluationInput,
    submit_evaluations,
)

URL = "/api/v1/evaluations/"


@dataclass
class Rubric:
    """A touch point of personas.org with one criterion of each kind, and a site."""

    touch_point: TouchPoint
    scale: Criterion  # 1..5
    yes_no: Criterion
    numeric: Criterion  # seconds waiting: target 20, worst 120
    site: Site


def make_rubric(organization: Organization) -> Rubric:
    touch_point = TouchPointFactory(
        stage__journey__organization=organization, name="Welcome at the counter"
    )
    return Rubric(
        touch_point=touch_point,
        scale=CriterionFactory(touch_point=touch_point, name="Used the customer's name"),
        yes_no=CriterionFactory(
            touch_point=touch_point, name="Counter was clean", kind=CriterionKind.YES_NO
        ),
        numeric=CriterionFactory(
            touch_point=touch_point,
            name="Seconds waiting",
            kind=CriterionKind.NUMERIC,
            target_value=20,
            worst_value=120,
        ),
        site=SiteFactory(organization=organization, name="Main Street"),
    )


@pytest.fixture
def rubric(personas: Any) -> Rubric:
    return make_rubric(personas.org)


@pytest.fixture
def rival(personas: Any) -> Rubric:
    """The same touch point, criteria and site, in the other organization."""
    return make_rubric(personas.other_org)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def an_hour_ago() -> str:
    return iso(timezone.now() - timedelta(hours=1))


def evaluation_body(rubric: Rubric, **overrides: Any) -> dict[str, Any]:
    """A good evaluation of the rubric's touch point, unless told otherwise."""
    body: dict[str, Any] = {
        "touch_point": rubric.touch_point.pk,
        "source": "mystery_shopper",
        "observed_at": an_hour_ago(),
        "site": rubric.site.pk,
        "comment": "Greeted by name.",
        "answers": [
            {"criterion": rubric.scale.pk, "value": 4},
            {"criterion": rubric.yes_no.pk, "value": 1},
            {"criterion": rubric.numeric.pk, "value": 70},
        ],
    }
    body.update(overrides)
    return body


def stored() -> tuple[int, int, int]:
    return Evaluation.objects.count(), Answer.objects.count(), StaleMark.objects.count()


def post(client: APIClient, body: Any, **headers: Any) -> Any:
    return client.post(URL, body, format="json", **headers)


def refused(client: APIClient, body: Any, **headers: Any) -> Any:
    """POST, require a 400 that stored nothing, and return the error body."""
    before = stored()
    response = post(client, body, **headers)
    assert response.status_code == 400, response.content
    assert stored() == before, "a refused submission stored something"
    return response.json()


# --- Submitting one ------------------------------------------------------------------------


def test_an_evaluator_submits_an_evaluation_and_gets_it_back_scored(
    personas: Any, rubric: Rubric, evaluator_api: APIClient
) -> None:
    response = post(evaluator_api, evaluation_body(rubric, client_key="visit-42"))

    assert response.status_code == 201, response.content
    data = response.json()
    evaluation = Evaluation.objects.get()
    assert data["id"] == evaluation.pk
    assert data["touch_point"] == rubric.touch_point.pk
    assert data["journey"] == rubric.touch_point.journey_id
    assert data["site"] == rubric.site.pk
    assert data["source"] == "mystery_shopper"
    assert data["comment"] == "Greeted by name."
    assert data["client_key"] == "visit-42"
    assert data["evaluator"] == personas.evaluator.pk
    assert data["rubric_version"] == rubric.touch_point.rubric_version
    # (4-1)/4 = 75, yes = 100, 70 s between 20 and 120 = 50: mean 75.
    assert data["score"] == pytest.approx(75.0)
    assert [
        (a["criterion"], a["value"], a["score"], a["rubric_version"]) for a in data["answers"]
    ] == [
        (rubric.scale.pk, 4.0, pytest.approx(75.0), 1),
        (rubric.yes_no.pk, 1.0, pytest.approx(100.0), 1),
        (rubric.numeric.pk, 70.0, pytest.approx(50.0), 1),
    ]
    assert evaluation.evaluator == personas.evaluator
    assert evaluation.organization == personas.org
    assert evaluation.answers.count() == 3


def test_the_observed_time_is_kept_as_the_same_instant(
    rubric: Rubric, evaluator_api: APIClient
) -> None:
    observed = timezone.now().replace(microsecond=0) - timedelta(days=2)
    body = evaluation_body(rubric, observed_at=observed.astimezone().isoformat())

    response = post(evaluator_api, body)

    assert response.status_code == 201
    assert Evaluation.objects.get().observed_at == observed


def test_not_applicable_is_stored_as_null_and_left_out_of_the_score(
    rubric: Rubric, evaluator_api: APIClient
) -> None:
    answers = [
        {"criterion": rubric.scale.pk, "value": 5},
        {"criterion": rubric.yes_no.pk, "value": None},
    ]
    response = post(evaluator_api, evaluation_body(rubric, answers=answers))

    assert response.status_code == 201
    assert response.json()["answers"][1] == {
        "criterion": rubric.yes_no.pk,
        "value": None,
        "score": None,
        "rubric_version": 1,
    }
    assert response.json()["score"] == pytest.approx(100.0)


def test_a_manager_may_submit(rubric: Rubric, manager_api: APIClient) -> None:
    assert post(manager_api, evaluation_body(rubric)).status_code == 201


def test_a_viewer_gets_403_and_nothing_is_stored(rubric: Rubric, viewer_api: APIClient) -> None:
    response = post(viewer_api, evaluation_body(rubric))

    assert response.status_code == 403
    assert "viewer" in response.json()["detail"]
    assert stored() == (0, 0, 0)


def test_without_a_token_nothing_is_read_or_stored(rubric: Rubric) -> None:
    client = APIClient()
    assert post(client, evaluation_body(rubric)).status_code == 401
    assert client.get(URL).status_code == 401
    assert stored() == (0, 0, 0)


def test_every_problem_of_one_evaluation_is_named_by_field(
    rubric: Rubric, evaluator_api: APIClient
) -> None:
    body = evaluation_body(
        rubric,
        source="gut_feeling",
        answers=[
            {"criterion": rubric.scale.pk, "value": 9},
            {"criterion": rubric.yes_no.pk, "value": 2},
        ],
    )

    errors = refused(evaluator_api, body)

    assert set(errors) == {"source", "answers[0].value", "answers[1].value"}
    assert errors["answers[0].value"] == [
        "Used the customer's name: Must be a whole number from 1 to 5."
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"touch_point": None}, "touch_point"),
        ({"observed_at": "last Tuesday"}, "observed_at"),
        ({"observed_at": "2026-02-30T10:00:00Z"}, "observed_at"),
        ({"answers": "all good"}, "answers"),
        ({"answers": [4, 5]}, "answers[0]"),
        ({"answers": [{"criterion": 1}]}, "answers[0].value"),
    ],
)
def test_a_body_of_the_wrong_shape_is_refused_by_field(
    rubric: Rubric, evaluator_api: APIClient, change: dict[str, Any], field: str
) -> None:
    errors = refused(evaluator_api, evaluation_body(rubric, **change))
    assert field in errors, errors


@pytest.mark.parametrize("missing", ["touch_point", "source", "observed_at", "answers"])
def test_a_required_field_left_out_is_named(
    rubric: Rubric, evaluator_api: APIClient, missing: str
) -> None:
    body = evaluation_body(rubric)
    del body[missing]
    assert refused(evaluator_api, body) == {missing: ["This field is required."]}


def test_an_observed_time_without_a_time_zone_is_refused_not_guessed(
    rubric: Rubric, evaluator_api: APIClient
) -> None:
    errors = refused(evaluator_api, evaluation_body(rubric, observed_at="2026-05-01T14:30:00"))
    assert "time zone" in errors["observed_at"][0]


def test_a_body_that_is_not_an_object_or_a_list_is_refused(evaluator_api: APIClient) -> None:
    assert "non_field_errors" in refused(evaluator_api, "evaluation")


# --- Batches --------------------------------------------------------------------------------


def test_a_batch_is_stored_whole_and_returned_in_the_order_sent(
    rubric: Rubric, evaluator_api: APIClient
) -> None:
    body = [evaluation_body(rubric, comment=f"visit {i}", client_key=f"k{i}") for i in range(3)]

    response = post(evaluator_api, body)

    assert response.status_code == 201, response.content
    assert [e["comment"] for e in response.json()] == ["visit 0", "visit 1", "visit 2"]
    assert stored()[:2] == (3, 9)


def test_a_batch_with_bad_items_names_each_by_index_and_stores_nothing(
    rubric: Rubric, evaluator_api: APIClient
) -> None:
    bad_value = evaluation_body(rubric)
    bad_value["answers"][1]["value"] = 7
    body = [
        evaluation_body(rubric),
        bad_value,
        evaluation_body(rubric),
        evaluation_body(rubric, touch_point=999_999_999),
    ]

    errors = refused(evaluator_api, body)

    assert "Nothing was stored" in errors["detail"]
    assert errors["errors"] == [
        {
            "index": 1,
            "fields": {"answers[1].value": ["Counter was clean: Must be 1 (yes) or 0 (no)."]},
        },
        {"index": 3, "fields": {"touch_point": ["No such touch point."]}},
    ]


def test_a_batch_with_items_of_the_wrong_shape_names_each_by_index(
    rubric: Rubric, evaluator_api: APIClient
) -> None:
    errors = refused(evaluator_api, [evaluation_body(rubric), "oops", {"answers": []}])

    assert [e["index"] for e in errors["errors"]] == [1, 2]
    assert "non_field_errors" in errors["errors"][0]["fields"]
    assert set(errors["errors"][1]["fields"]) == {"touch_point", "source", "observed_at"}


def test_an_empty_batch_is_refused(evaluator_api: APIClient) -> None:
    assert refused(evaluator_api, []) == {
        "items": ["Send between 1 and 500 evaluations at a time."]
    }


def test_a_batch_over_the_limit_is_413_and_stores_nothing(
    rubric: Rubric, evaluator_api: APIClient
) -> None:
    # Minimal items keep the body under 1 MB: the count alone must be refused.
    response = post(evaluator_api, [{}] * (MAX_BATCH + 1))

    assert response.status_code == 413
    assert f"At most {MAX_BATCH}" in response.json()["detail"]
    assert stored() == (0, 0, 0)


@pytest.mark.slow
def test_a_batch_of_the_maximum_size_is_stored(rubric: Rubric, evaluator_api: APIClient) -> None:
    body = [evaluation_body(rubric) for _ in range(MAX_BATCH)]

    response = post(evaluator_api, body)

    assert response.status_code == 201
    assert len(response.json()) == MAX_BATCH
    assert Evaluation.objects.count() == MAX_BATCH


# --- Other organizations (S2) ------------------------------------------------------------------


def test_naming_another_organizations_touch_point_is_refused_like_a_missing_one(
    rubric: Rubric, rival: Rubric, evaluator_api: APIClient
) -> None:
    errors = refused(evaluator_api, evaluation_body(rubric, touch_point=rival.touch_point.pk))
    assert errors["touch_point"] == ["No such touch point."]


def test_naming_another_organizations_site_is_refused(
    rubric: Rubric, rival: Rubric, evaluator_api: APIClient
) -> None:
    errors = refused(evaluator_api, evaluation_body(rubric, site=rival.site.pk))
    assert errors == {"site": ["No such site."]}


def test_naming_another_organizations_criterion_is_refused(
    rubric: Rubric, rival: Rubric, evaluator_api: APIClient
) -> None:
    body = evaluation_body(rubric)
    body["answers"][0]["criterion"] = rival.scale.pk
    errors = refused(evaluator_api, body)
    assert errors == {"answers[0].criterion": ["Not an active criterion of this touch point."]}


def test_an_outsider_cannot_submit_to_our_touch_point(
    rubric: Rubric, outsider_api: APIClient
) -> None:
    errors = refused(outsider_api, evaluation_body(rubric))
    assert errors["touch_point"] == ["No such touch point."]


def test_an_outsider_naming_our_organization_gets_404(
    personas: Any, rubric: Rubric, client_for: Any
) -> None:
    client = client_for(personas.outsider, organization=personas.org.slug)
    response = post(client, evaluation_body(rubric))
    assert response.status_code == 404
    assert stored() == (0, 0, 0)


# --- Fields the client may not set (S4) -------------------------------------------------------


SERVER_SET = {
    "evaluator": None,  # filled per test: someone else
    "organization": None,  # filled per test: another organization
    "score": 100,
    "submitted_at": "2020-01-01T00:00:00Z",
    "rubric_version": 99,
    "id": 1,
}


@pytest.mark.parametrize("field", list(SERVER_SET))
def test_a_server_owned_field_in_the_body_is_ignored_and_never_stored(
    personas: Any, rubric: Rubric, evaluator_api: APIClient, field: str
) -> None:
    """As on every write endpoint (core.api.serializers): a member the endpoint does not
    read is ignored, and what the server sets is the server's."""
    value = {
        **SERVER_SET,
        "evaluator": personas.manager.pk,
        "organization": personas.other_org.pk,
    }[field]

    response = post(evaluator_api, evaluation_body(rubric, **{field: value}))

    assert response.status_code == 201, response.content
    row = Evaluation.objects.get()
    assert (row.evaluator, row.organization) == (personas.evaluator, personas.org)
    assert row.rubric_version == rubric.touch_point.rubric_version
    assert row.submitted_at > timezone.now() - timedelta(minutes=5)
    assert row.score != 100
    assert response.json()["evaluator"] == personas.evaluator.pk


def test_an_answers_score_cannot_be_set_either(rubric: Rubric, evaluator_api: APIClient) -> None:
    body = evaluation_body(rubric)
    body["answers"][0]["score"] = 100

    response = post(evaluator_api, body)

    assert response.status_code == 201, response.content
    assert Answer.objects.get(criterion=rubric.scale).value == 4
    assert response.json()["answers"][0]["score"] != 100


def test_a_nul_deep_in_a_member_nobody_reads_is_ignored_and_a_nul_in_a_field_is_refused(
    rubric: Rubric, evaluator_api: APIClient
) -> None:
    """The text gate is for what is stored: the schema allows any JSON in a member the
    endpoint does not read (check-api found NUL nested 9-11 levels deep there refused)."""
    deep: Any = "nul\x00here"
    for level in range(12):
        deep = {f"level{level}\x00": [deep]}

    accepted = post(evaluator_api, evaluation_body(rubric, extra=deep))
    refused_errors = refused(evaluator_api, evaluation_body(rubric, comment="a\x00b"))

    assert accepted.status_code == 201, accepted.content
    assert "extra" not in accepted.json()
    assert refused_errors == {"comment": ["Must not contain NUL characters."]}


def test_the_stored_evaluator_is_always_the_caller(
    personas: Any, rubric: Rubric, manager_api: APIClient
) -> None:
    assert post(manager_api, evaluation_body(rubric)).status_code == 201
    assert Evaluation.objects.get().evaluator == personas.manager


def test_responses_expose_no_internal_fields(
    personas: Any, rubric: Rubric, evaluator_api: APIClient
) -> None:
    created = post(evaluator_api, evaluation_body(rubric)).json()
    listed = evaluator_api.get(URL).json()["results"][0]

    for data in (created, listed):
        assert "organization" not in data
        assert data["evaluator"] == personas.evaluator.pk
        text = str(data)
        assert personas.evaluator.password not in text
        assert "key_hash" not in text


# --- Reading ------------------------------------------------------------------------------------


def submit_directly(personas: Any, rubric: Rubric, **overrides: Any) -> Evaluation:
    fields: dict[str, Any] = {
        "touch_point_id": rubric.touch_point.pk,
        "source": Source.SUPERVISOR,
        "observed_at": timezone.now() - timedelta(hours=1),
        "answers": (AnswerInput(rubric.scale.pk, 3),),
    }
    fields.update(overrides)
    return submit_evaluations(
        evaluator=personas.evaluator, organization=personas.org, items=[EvaluationInput(**fields)]
    )[0]


def test_every_member_reads_the_list_newest_observation_first(
    personas: Any, rubric: Rubric, viewer_api: APIClient
) -> None:
    now = timezone.now()
    old = submit_directly(personas, rubric, observed_at=now - timedelta(days=3))
    new = submit_directly(personas, rubric, observed_at=now - timedelta(hours=1))
    middle = submit_directly(personas, rubric, observed_at=now - timedelta(days=1))

    response = viewer_api.get(URL)

    assert response.status_code == 200
    assert response.json()["count"] == 3
    assert [e["id"] for e in response.json()["results"]] == [new.pk, middle.pk, old.pk]


def test_the_list_holds_only_the_callers_organization(
    personas: Any, rubric: Rubric, rival: Rubric, outsider_api: APIClient
) -> None:
    submit_directly(personas, rubric)
    assert outsider_api.get(URL).json()["count"] == 0


def test_one_evaluation_is_read_with_its_answers(
    personas: Any, rubric: Rubric, viewer_api: APIClient
) -> None:
    evaluation = submit_directly(personas, rubric)

    response = viewer_api.get(f"{URL}{evaluation.pk}/")

    assert response.status_code == 200
    assert response.json()["answers"] == [
        {"criterion": rubric.scale.pk, "value": 3.0, "score": 50.0, "rubric_version": 1}
    ]


def test_another_organizations_evaluation_is_404(
    personas: Any, rubric: Rubric, outsider_api: APIClient
) -> None:
    evaluation = submit_directly(personas, rubric)
    response = outsider_api.get(f"{URL}{evaluation.pk}/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No Evaluation matches the given query."}


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_evaluations_are_facts_no_one_edits_or_deletes(
    personas: Any, rubric: Rubric, manager_api: APIClient, method: str
) -> None:
    evaluation = submit_directly(personas, rubric)
    response = getattr(manager_api, method)(f"{URL}{evaluation.pk}/", {}, format="json")
    assert response.status_code == 405
    assert Evaluation.objects.filter(pk=evaluation.pk).exists()


def test_filters_narrow_the_list(personas: Any, rubric: Rubric, evaluator_api: APIClient) -> None:
    now = timezone.now()
    other_tp = TouchPointFactory(stage__journey__organization=personas.org)
    other_criterion = CriterionFactory(touch_point=other_tp)
    at_site = submit_directly(personas, rubric, site_id=rubric.site.pk, source=Source.AUDIT)
    old = submit_directly(personas, rubric, observed_at=now - timedelta(days=10))
    elsewhere = submit_directly(
        personas,
        rubric,
        touch_point_id=other_tp.pk,
        answers=(AnswerInput(other_criterion.pk, 2),),
    )

    def ids(**params: Any) -> set[int]:
        response = evaluator_api.get(URL, params)
        assert response.status_code == 200, response.content
        return {e["id"] for e in response.json()["results"]}

    assert ids(touch_point=rubric.touch_point.pk) == {at_site.pk, old.pk}
    assert ids(journey=other_tp.journey_id) == {elsewhere.pk}
    assert ids(site=rubric.site.pk) == {at_site.pk}
    assert ids(source="audit") == {at_site.pk}
    assert ids(observed_before=iso(now - timedelta(days=1))) == {old.pk}
    assert ids(observed_after=iso(now - timedelta(days=1))) == {at_site.pk, elsewhere.pk}
    assert (
        ids(observed_after=iso(now - timedelta(days=11)), observed_before=iso(old.observed_at))
        == set()
    ), "observed_before is exclusive"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"touch_point": "twelve"}, "touch_point"),
        ({"touch_point": "1.5"}, "touch_point"),
        ({"site": str(10**30)}, "site"),
        ({"journey": "-1"}, "journey"),
        ({"source": "rumour"}, "source"),
        ({"observed_after": "yesterday"}, "observed_after"),
        ({"observed_before": "2026-13-01T00:00:00Z"}, "observed_before"),
    ],
)
def test_a_malformed_filter_is_400_naming_it(
    evaluator_api: APIClient, params: dict[str, str], field: str
) -> None:
    response = evaluator_api.get(URL, params)
    assert response.status_code == 400
    assert field in response.json()


def test_a_page_size_beyond_the_maximum_is_clamped(
    personas: Any, rubric: Rubric, evaluator_api: APIClient
) -> None:
    submit_directly(personas, rubric)
    response = evaluator_api.get(URL, {"page_size": 1_000_000})
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_a_page_costs_the_same_queries_for_3_or_30_evaluations(
    personas: Any, rubric: Rubric, evaluator_api: APIClient
) -> None:
    def queries_for_a_page() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = evaluator_api.get(URL, {"page_size": 100})
        assert response.status_code == 200
        return len(queries)

    evaluator_api.get(URL)  # the token's first use is recorded once, not per request
    answers = (AnswerInput(rubric.scale.pk, 3), AnswerInput(rubric.yes_no.pk, 1))
    for _ in range(3):
        submit_directly(personas, rubric, answers=answers, site_id=rubric.site.pk)
    few = queries_for_a_page()
    for _ in range(27):
        submit_directly(personas, rubric, answers=answers, site_id=rubric.site.pk)
    many = queries_for_a_page()

    assert many == few
    # count, page, answers with their rubric versions (the token and its memberships come
    # from the access cache after the first request: accounts.access_cache)
    assert many == 3


# --- Throttling -----------------------------------------------------------------------------


def test_submissions_are_throttled_by_their_own_scope_and_reads_are_not(
    rubric: Rubric, evaluator_api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SubmissionThrottle, "THROTTLE_RATES", {"evaluations": "2/min"})

    assert post(evaluator_api, evaluation_body(rubric)).status_code == 201
    assert post(evaluator_api, evaluation_body(rubric)).status_code == 201
    throttled = post(evaluator_api, evaluation_body(rubric))

    assert throttled.status_code == 429
    assert "Retry-After" in throttled.headers
    assert Evaluation.objects.count() == 2
    assert all(evaluator_api.get(URL).status_code == 200 for _ in range(3))


# --- Client keys: one key, one evaluation, one refusal ---------------------------------------


def _key_refused(index: int) -> dict[str, Any]:
    return {"index": index, "fields": {"client_key": [KEY_TAKEN]}}


def test_a_client_key_repeated_in_a_batch_or_already_stored_gets_the_same_400(
    rubric: Rubric, evaluator_api: APIClient
) -> None:
    """Either way the key names another evaluation (docs/import-evaluations.md: unique per
    evaluation within the organization), and either way the request is the client's to
    correct: one status, one message, by the index of the item that carries it (the
    schema's 400; its 409 is the Idempotency-Key's alone)."""
    assert post(evaluator_api, evaluation_body(rubric, client_key="stored")).status_code == 201

    repeated = refused(
        evaluator_api,
        [evaluation_body(rubric, client_key="twice"), evaluation_body(rubric, client_key="twice")],
    )
    already = refused(
        evaluator_api,
        [evaluation_body(rubric, client_key="new"), evaluation_body(rubric, client_key="stored")],
    )
    alone = refused(evaluator_api, evaluation_body(rubric, client_key="stored"))

    assert repeated["errors"] == [_key_refused(1)]
    assert already["errors"] == [_key_refused(1)]
    assert alone == {"client_key": [KEY_TAKEN]}


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "one"])
def test_a_client_key_taken_while_the_batch_was_checked_gets_the_same_400(
    rubric: Rubric, evaluator_api: APIClient, monkeypatch: pytest.MonkeyPatch, batch: bool
) -> None:
    """A concurrent submission stores the key between the check and the insert (the unique
    constraint then refuses it): the answer is the one a key stored before gets, not a
    second format."""
    assert post(evaluator_api, evaluation_body(rubric, client_key="raced")).status_code == 201
    checks = []
    check = services._client_key_errors

    def missed_once(organization: Any, items: Any) -> Any:
        checks.append(1)
        return {} if len(checks) == 1 else check(organization, items)

    monkeypatch.setattr(services, "_client_key_errors", missed_once)
    body = [evaluation_body(rubric, client_key="fine"), evaluation_body(rubric, client_key="raced")]

    answer = refused(evaluator_api, body if batch else body[1])

    assert len(checks) == 2  # the insert did collide, and the key was looked up again
    if batch:
        assert answer["errors"] == [_key_refused(1)]
        assert "Nothing was stored" in answer["detail"]
    else:
        assert answer == {"client_key": [KEY_TAKEN]}
