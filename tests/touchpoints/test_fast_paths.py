"""The evaluations API's hand-written fast paths say exactly what the DRF serializers they
stand in for say, for any input (Hypothesis).

- `_plain_input` parses a plainly well-formed item without building serializers; for
  anything else it answers None and EvaluationInputSerializer judges. So: whenever it
  answers, the serializer accepts the item and gives the very same EvaluationInput
  (compared by repr, so 1, 1.0 and True are not mistaken for one another), and to_inputs
  gives the same inputs, or the same 400 body, with or without it.
- `submitted_data` builds a submission's answer from the service's objects and the
  scores SQL derived; it must be EvaluationSerializer(many=True).data of the stored rows,
  byte for byte once rendered as JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone as django_timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer

from tests.api.test_evaluations_api import Rubric, make_rubric
from tests.conftest import Personas
from touchpoints import evaluation_serializers
from touchpoints.evaluation_serializers import (
    EvaluationInputError,
    EvaluationInputSerializer,
    EvaluationSerializer,
    _plain_input,
    submitted_data,
    to_inputs,
)
from touchpoints.evaluations_api import _derived, evaluations_with_answers
from touchpoints.models import Source
from touchpoints.services import (
    AnswerInput,
    BatchValidationError,
    EvaluationInput,
    submit_evaluations,
)

# --- Inputs: anything JSON, and items that are nearly or exactly well-formed --------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))]
observed_texts = (
    st.datetimes(
        min_value=datetime(1900, 1, 1),  # noqa: DTZ001  (Hypothesis takes naive bounds; the zone is drawn)
        max_value=datetime(2200, 1, 1),  # noqa: DTZ001
        timezones=st.none() | st.sampled_from(ZONES),
    ).map(lambda moment: moment.isoformat())
    | st.sampled_from(
        [
            "2026-05-01",
            "2026-05-01T14:30:00Z",
            "2026-02-30T10:00:00+01:00",  # parses as a shape, raises ValueError as a date
            "2026-05-01T25:00:00Z",
            "2026-05-01T14:30:00+99:00",
            "",
            "now",
        ]
    )
    | st.text(max_size=30)
)
answer_values = st.none() | st.integers(-3, 7) | st.floats(-1e6, 1e6) | json_values
answers = st.fixed_dictionaries(
    {"criterion": st.integers(1, 10**6) | json_values, "value": answer_values}
) | st.dictionaries(st.sampled_from(["criterion", "value", "score", "extra"]), json_values)

FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "touch_point": st.integers(1, 10**6) | json_values,
    "source": st.sampled_from(Source.values) | json_values,
    "observed_at": observed_texts | json_values,
    "site": st.none() | st.integers(1, 10**6) | json_values,
    "comment": st.text(max_size=20) | json_values,
    "answers": st.lists(answers, max_size=4) | json_values,
    "client_key": st.none() | st.text(max_size=20) | json_values,
}
REQUIRED = ("touch_point", "source", "observed_at", "answers")
REFUSED_KEYS = ["id", "evaluator", "score", "organization", "touch_pont", "Answers"]


@st.composite
def items(draw: st.DrawFn) -> Any:
    """An evaluation item: mostly dicts that are well-formed or one mistake away."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)  # not even an object, sometimes
    item: dict[str, Any] = {}
    for name, values in FIELD_VALUES.items():
        keep = draw(st.integers(0, 19)) > 0 if name in REQUIRED else draw(st.booleans())
        if keep:
            item[name] = draw(values)
    if draw(st.integers(0, 4)) == 0:
        item[draw(st.sampled_from(REFUSED_KEYS))] = draw(json_values)
    return item


WELL_FORMED = {
    "touch_point": 7,
    "source": "mystery_shopper",
    "observed_at": "2026-05-01T14:30:00+02:00",
    "answers": [{"criterion": 3, "value": 4}, {"criterion": 4, "value": None}],
}


def through_serializer(raw: Any) -> EvaluationInput | None:
    """What to_inputs makes of the item with the serializer alone; None if it refuses."""
    serializer = EvaluationInputSerializer(data=raw)
    if not serializer.is_valid():
        return None
    data = serializer.validated_data
    return EvaluationInput(
        touch_point_id=data["touch_point"],
        source=data["source"],
        observed_at=data["observed_at"],
        answers=tuple(AnswerInput(a["criterion"], a["value"]) for a in data["answers"]),
        site_id=data["site"],
        comment=data["comment"],
        client_key=data["client_key"],
    )


@given(raw=items())
@example(raw=WELL_FORMED)
@example(raw={**WELL_FORMED, "comment": None})
@example(raw={**WELL_FORMED, "answers": [{"criterion": None, "value": 1}]})
@example(raw={**WELL_FORMED, "answers": [{"criterion": 3, "value": True}]})
@example(raw={**WELL_FORMED, "observed_at": "2026-05-01T14:30:00"})
@settings(max_examples=400, deadline=None)
def test_the_plain_item_fast_path_gives_what_the_serializer_gives(raw: Any) -> None:
    fast = _plain_input(raw)
    if fast is None:
        return  # not plainly well-formed: to_inputs hands it to the serializer
    slow = through_serializer(raw)
    assert slow is not None, "the fast path accepted an item the serializer refuses"
    assert repr(fast) == repr(slow)


def test_a_well_formed_item_takes_the_fast_path() -> None:
    """Else the property above would hold vacuously."""
    assert _plain_input(WELL_FORMED) is not None
    assert _plain_input({**WELL_FORMED, "site": None, "comment": "", "client_key": "k1"})


def outcome(payload: Any) -> str:
    """to_inputs' answer, inputs or 400 body, as comparable text."""
    try:
        return repr(to_inputs(payload))
    except EvaluationInputError as exc:
        return "400 " + repr(exc.detail)


@given(payload=items() | st.lists(items(), min_size=1, max_size=4))
@settings(max_examples=300, deadline=None)
def test_to_inputs_answers_the_same_with_and_without_the_fast_path(payload: Any) -> None:
    with_fast_path = outcome(payload)
    original = evaluation_serializers._plain_input
    evaluation_serializers._plain_input = lambda raw: None  # every item to the serializer
    try:
        serializer_only = outcome(payload)
    finally:
        evaluation_serializers._plain_input = original
    assert with_fast_path == serializer_only


# --- submitted_data against EvaluationSerializer -------------------------------------------


@pytest.fixture
def rubric(personas: Personas) -> Rubric:
    return make_rubric(personas.org)


comments = st.text(
    alphabet=st.characters(categories=["L", "N", "P", "S", "Zs"]), max_size=40
).filter(lambda text: text == text.strip())


@st.composite
def submissions(draw: st.DrawFn, rubric: Rubric) -> list[EvaluationInput]:
    """1–3 valid evaluations of the rubric's touch point: any source, zone, site, comment,
    client key, and any valid answer (or not applicable) to each criterion."""
    now = django_timezone.now()
    batch = []
    for index in range(draw(st.integers(1, 3))):
        ago = timedelta(microseconds=draw(st.integers(1, 200 * 86_400 * 10**6)))
        zone = draw(st.sampled_from(ZONES))
        numeric = draw(
            st.none()
            | st.integers(0, 500)
            | st.floats(0, 500, allow_nan=False).map(lambda x: round(x, 3))
        )
        batch.append(
            EvaluationInput(
                touch_point_id=rubric.touch_point.pk,
                source=draw(st.sampled_from(Source.values)),
                observed_at=(now - ago).astimezone(zone),
                answers=(
                    AnswerInput(rubric.scale.pk, draw(st.none() | st.integers(1, 5))),
                    AnswerInput(rubric.yes_no.pk, draw(st.none() | st.sampled_from([0, 1]))),
                    AnswerInput(rubric.numeric.pk, numeric),
                ),
                site_id=draw(st.none() | st.just(rubric.site.pk)),
                comment=draw(comments),
                client_key=draw(st.none() | st.just(f"key-{index}-{draw(st.uuids())}")),
            )
        )
    return batch


def as_json(data: Any) -> bytes:
    return JSONRenderer().render(data)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_the_submission_answer_is_the_serializer_output_of_the_stored_rows(
    data: st.DataObject, personas: Personas, rubric: Rubric
) -> None:
    batch = data.draw(submissions(rubric))
    with transaction.atomic():  # a savepoint per example: each starts from the same rows
        evaluations = submit_evaluations(
            evaluator=personas.evaluator, organization=personas.org, items=batch
        )
        ids = [e.pk for e in evaluations]
        fast = submitted_data(evaluations, _derived(ids))
        stored = sorted(
            evaluations_with_answers().filter(pk__in=ids), key=lambda e: ids.index(e.pk)
        )
        reference = EvaluationSerializer(stored, many=True).data
        assert as_json(fast) == as_json(reference)
        transaction.set_rollback(True)


def test_another_organizations_evaluator_cannot_submit_to_this_touch_point(
    personas: Personas, rubric: Rubric
) -> None:
    """The outsider: the touch point is as good as missing to another organization."""
    item = EvaluationInput(
        touch_point_id=rubric.touch_point.pk,
        source="mystery_shopper",
        observed_at=django_timezone.now() - timedelta(hours=1),
        answers=(AnswerInput(rubric.scale.pk, 4),),
    )
    with pytest.raises(BatchValidationError):
        submit_evaluations(
            evaluator=personas.outsider, organization=personas.other_org, items=[item]
        )
