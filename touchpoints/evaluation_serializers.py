"""The evaluations API's JSON boundary: a strict parser, the input shape, the output shape.

Nothing here decides whether an evaluation is valid. The parser refuses what is not
JSON a client could mean (non-finite numbers, invalid UTF-8, absurd nesting), the input
serializer turns JSON into `EvaluationInput`s (only `observed_at` needs parsing), and
`touchpoints.services.submit_evaluations` judges the rest, for the API exactly as for the
browser form and CSV import. Every refusal names its field with the same paths:
`answers[1].value`, and in a batch the item's index beside them.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.parsers import JSONParser

from touchpoints.models import Answer, Evaluation, Source
from touchpoints.services import AnswerInput, EvaluationInput

# --- Errors ------------------------------------------------------------------------------

ItemErrors = Mapping[int, Mapping[str, Sequence[str]]]


def error_body(item_errors: ItemErrors, *, batch: bool) -> dict[str, Any]:
    """The 400 body: a single evaluation's errors by field, or a batch's by item index.

    Single: `{"answers[1].value": ["…"]}`, the shape of every other 400 of the API.
    Batch: `{"detail": "…", "errors": [{"index": 3, "fields": {"answers[1].value": ["…"]}}]}`.
    """
    if not batch:
        return {name: list(messages) for name, messages in item_errors.get(0, {}).items()}
    count = len(item_errors)
    return {
        "detail": (
            f"Nothing was stored: {count} item{'s' if count != 1 else ''} of the batch "
            f"{'has' if count == 1 else 'have'} errors. Correct them and send the whole "
            "batch again."
        ),
        "errors": [
            {"index": index, "fields": {n: list(m) for n, m in fields.items()}}
            for index, fields in sorted(item_errors.items())
        ],
    }


class EvaluationInputError(exceptions.APIException):
    """A 400 whose body is `error_body(...)` exactly.

    DRF turns every value of an exception's detail into a string; this keeps the batch
    item `index` an integer, so clients can use it as one.
    """

    status_code = 400
    default_code = "invalid"

    def __init__(self, body: dict[str, Any]):
        super().__init__()
        self.detail = body  # deliberately not coerced


def field_path(parts: Sequence[str | int]) -> str:
    """["answers", 1, "value"] → "answers[1].value"."""
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "non_field_errors"


def _flatten(errors: Any, prefix: Sequence[str | int] = ()) -> dict[str, list[str]]:
    """DRF's nested serializer errors as {"answers[1].value": [...]}."""
    if isinstance(errors, Mapping):
        items: Any = errors.items()
    elif isinstance(errors, list) and errors and not isinstance(errors[0], str):
        items = enumerate(errors)  # a ListSerializer's errors: one entry per item
    else:
        return {field_path(prefix): [str(e) for e in errors]} if errors else {}
    flat: dict[str, list[str]] = {}
    for key, nested in items:
        part: list[str | int] = [] if key == "non_field_errors" and prefix else [key]
        flat.update(_flatten(nested, [*prefix, *part]))
    return flat


# --- Parsing -------------------------------------------------------------------------------

MAX_DEPTH = 20  # an evaluation batch is 4 levels deep; anything far deeper is an attack


class _NonFinite:
    """Stands in for NaN, ±Infinity or 1e309 until their path is known."""


_NON_FINITE = _NonFinite()


def _parse_float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NON_FINITE


def _parse_int(text: str) -> int | _NonFinite:
    # An integer no float can hold (10**400) is as unusable as 1e309, and would make
    # a finiteness check raise OverflowError instead of answering.
    value = int(text)
    return value if abs(value) <= sys.float_info.max else _NON_FINITE


def _is_read(item_path: tuple[str | int, ...], key: str) -> bool:
    """Whether the member `key` of the object at `item_path` (within one evaluation) is
    one the endpoint reads: a member it does not read is ignored whatever it holds, as on
    every write endpoint (core.api.serializers), so it is not judged here either."""
    if item_path == ():
        return key in _ITEM_FIELDS
    if len(item_path) == 2 and item_path[0] == "answers":
        return key in _ANSWER_FIELDS
    return True  # inside a member that is read: all of it is that member's value


def _problems(data: Any) -> dict[tuple[str | int, ...], str]:
    """Non-finite numbers, lone surrogates and excessive depth in the members the endpoint
    reads, by path (iteratively, so depth itself cannot exhaust the stack)."""
    problems: dict[tuple[str | int, ...], str] = {}
    # Excessive depth is reported at the field it hangs from (in a batch: index, field).
    field_depth = 2 if isinstance(data, list) else 1
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            # Members nobody reads are dropped before anything is judged.
            item_path = path[field_depth - 1 :]
            value = {k: v for k, v in value.items() if _is_read(item_path, k)}
        if len(path) > MAX_DEPTH:
            problems[path[:field_depth]] = f"Nested deeper than {MAX_DEPTH} levels."
        elif value is _NON_FINITE:
            problems[path] = "Must be a finite number (NaN, Infinity and 1e309 are not)."
        elif isinstance(value, str) and not _is_unicode(value):
            problems[path] = "Must be valid Unicode text (it has a lone surrogate)."
        elif isinstance(value, dict):
            for key, nested in value.items():
                if not _is_unicode(key):
                    problems[path] = "Field names must be valid Unicode text."
                else:
                    stack.append(((*path, key), nested))
        elif isinstance(value, list):
            stack.extend(((*path, i), nested) for i, nested in enumerate(value))
    return problems


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parse_error(message: str) -> exceptions.ParseError:
    return exceptions.ParseError({"non_field_errors": [message]})


class StrictJSONParser(JSONParser):
    """JSON as RFC 8259 has it, within the body size limit.

    Python's json accepts NaN and Infinity, turns 1e309 into infinity and lets deep
    nesting raise RecursionError; each of those is refused here with a 400 (413 for a
    body over DATA_UPLOAD_MAX_MEMORY_SIZE), naming the field where it can.
    """

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        # DRF reads the request stream directly, past Django's check of the limit.
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _parse_error(
                f"The body is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at position {exc.start})."
            ) from None
        try:
            data = json.loads(
                text,
                parse_constant=lambda _name: _NON_FINITE,
                parse_float=_parse_float,
                parse_int=_parse_int,
            )
        except RecursionError:
            raise _parse_error(f"JSON nested deeper than {MAX_DEPTH} levels.") from None
        except ValueError as exc:
            raise _parse_error(f"The body is not valid JSON: {exc}.") from None
        problems = _problems(data)
        if problems:
            raise EvaluationInputError(_problem_body(problems, batch=isinstance(data, list)))
        return data


def _problem_body(problems: dict[tuple[str | int, ...], str], *, batch: bool) -> dict[str, Any]:
    item_errors: dict[int, dict[str, list[str]]] = {}
    for path, message in sorted(problems.items(), key=lambda p: [str(x) for x in p[0]]):
        # In a batch every path starts with the item's index.
        index, rest = (path[0], path[1:]) if batch and path else (0, path)
        item_errors.setdefault(int(index), {}).setdefault(field_path(rest), []).append(message)
    return error_body(item_errors, batch=batch)


# --- Input ---------------------------------------------------------------------------------


class PassThroughField(serializers.Field):  # type: ignore[type-arg]
    """Hands the JSON value to the service unchanged: it checks type and meaning together,
    with the same messages for every entry point."""

    def to_internal_value(self, data: Any) -> Any:
        return data

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field(OpenApiTypes.INT)
class IdField(PassThroughField):
    pass


@extend_schema_field(OpenApiTypes.NUMBER)
class NumberField(PassThroughField):
    pass


@extend_schema_field(OpenApiTypes.STR)
class TextField(PassThroughField):
    pass


@extend_schema_field({"type": "string", "enum": Source.values})
class SourceField(PassThroughField):
    pass


@extend_schema_field(OpenApiTypes.DATETIME)
class ObservedAtField(serializers.Field):  # type: ignore[type-arg]
    """ISO 8601 text → datetime. A time without a zone stays naive so the service can
    refuse it with its own message, rather than being guessed to be UTC here."""

    default_error_messages = {
        "invalid": "Give the date and time in ISO 8601, e.g. 2026-05-01T14:30:00+02:00.",
    }

    def to_internal_value(self, data: Any) -> datetime:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            parsed = parse_datetime(data)
        except ValueError:
            parsed = None
        if parsed is None:
            self.fail("invalid")
        return parsed

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


class AnswerInputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """One criterion's answer."""

    criterion = IdField(help_text="Id of an active criterion of the touch point.")
    value = NumberField(
        allow_null=True,
        help_text="Scale: a whole number 1..size; yes/no: 1 or 0; numeric: the measured "
        "value; null: not applicable.",
    )


class EvaluationInputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """An evaluation to submit. Members it does not read are ignored, as on every write
    endpoint (core.api.serializers): the fields the server sets (id, evaluator,
    organization, score, submitted_at, rubric_version) are never taken from the body."""

    touch_point = IdField()
    # A field named like Field.source: DRF's metaclass moves it into _declared_fields, so it
    # never shadows the attribute at run time; the stubs cannot know that.
    source = SourceField()  # type: ignore[assignment]
    observed_at = ObservedAtField(help_text="When it was observed, with its time zone.")
    site = IdField(required=False, allow_null=True, default=None)
    comment = TextField(required=False, default="", help_text="At most 5000 characters.")
    answers = AnswerInputSerializer(many=True, help_text="One answer per criterion.")
    client_key = TextField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Your own id for this evaluation (1–200 characters); a second "
        "evaluation with it is refused.",
    )


def to_inputs(payload: Any) -> tuple[list[EvaluationInput], bool]:
    """The request body as service inputs, and whether it was a batch (a list).

    Raises EvaluationInputError with every shape problem of every item.
    """
    batch = isinstance(payload, list)
    if not batch and not isinstance(payload, dict):
        raise EvaluationInputError(
            {"non_field_errors": ["Send an evaluation (a JSON object) or a list of them."]}
        )
    items: list[Any] = payload if batch else [payload]
    inputs: list[EvaluationInput] = []
    item_errors: dict[int, dict[str, list[str]]] = {}
    for index, raw in enumerate(items):
        plain = _plain_input(raw)
        if plain is not None:
            inputs.append(plain)
            continue
        serializer = EvaluationInputSerializer(data=raw)
        if not serializer.is_valid():
            item_errors[index] = _flatten(serializer.errors)
            continue
        data = serializer.validated_data
        inputs.append(
            EvaluationInput(
                touch_point_id=data["touch_point"],
                source=data["source"],
                observed_at=data["observed_at"],
                answers=tuple(AnswerInput(a["criterion"], a["value"]) for a in data["answers"]),
                site_id=data["site"],
                comment=data["comment"],
                client_key=data["client_key"],
            )
        )
    if item_errors:
        raise EvaluationInputError(error_body(item_errors, batch=batch))
    return inputs, batch


_ITEM_FIELDS = frozenset(
    {"touch_point", "source", "observed_at", "site", "comment", "answers", "client_key"}
)
_REQUIRED_FIELDS = frozenset({"touch_point", "source", "observed_at", "answers"})
_ANSWER_FIELDS = frozenset({"criterion", "value"})


def _plain_input(raw: Any) -> EvaluationInput | None:
    """What EvaluationInputSerializer gives for an item that is plainly well-formed (known
    fields, the required ones present and not null, answers a list of {criterion, value},
    a parseable observed_at); None for anything else, which the serializer then judges
    and words. The same result at a fraction of the cost: a batch of 500 would otherwise
    build 3,000 serializers before the service sees a single item."""
    if (
        type(raw) is not dict
        or not raw.keys() <= _ITEM_FIELDS
        or not raw.keys() >= _REQUIRED_FIELDS
    ):
        return None
    touch_point, source, observed, answers = (
        raw["touch_point"],
        raw["source"],
        raw["observed_at"],
        raw["answers"],
    )
    comment = raw.get("comment", "")
    if touch_point is None or source is None or comment is None:
        return None  # "may not be null": the serializer says so
    if type(observed) is not str or type(answers) is not list:
        return None
    for answer in answers:
        if type(answer) is not dict or answer.keys() != _ANSWER_FIELDS:
            return None
        if answer["criterion"] is None:
            return None
    try:
        observed_at = parse_datetime(observed)
    except ValueError:
        return None
    if observed_at is None:
        return None
    return EvaluationInput(
        touch_point_id=touch_point,
        source=source,
        observed_at=observed_at,
        answers=tuple(AnswerInput(a["criterion"], a["value"]) for a in answers),
        site_id=raw.get("site"),
        comment=comment,
        client_key=raw.get("client_key"),
    )


# --- Output --------------------------------------------------------------------------------


class AnswerSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A stored answer: its value (null: not applicable) and its score 0–100."""

    rubric_version = serializers.IntegerField(
        source="criterion_version.number",
        read_only=True,
        help_text="The criterion's rubric version the answer was given (and is scored) under.",
    )

    class Meta:
        model = Answer
        fields = ["criterion", "value", "score", "rubric_version"]
        read_only_fields = fields


class EvaluationSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A stored evaluation with its answers."""

    answers = AnswerSerializer(many=True, read_only=True)

    class Meta:
        model = Evaluation
        fields = [
            "id",
            "touch_point",
            "journey",
            "source",
            "observed_at",
            "submitted_at",
            "site",
            "comment",
            "client_key",
            "evaluator",
            "score",
            "rubric_version",
            "answers",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "evaluator": {
                "help_text": "Id of the user who submitted it; null for a customer's own answer "
                "through a feedback link (source customer_survey)."
            },
            "score": {"help_text": "0–100; null when no answer applies."},
            "rubric_version": {"help_text": "The touch point's rubric version at submission."},
        }


@dataclass
class DerivedScores:
    """What SQL derived for a stored evaluation: its score and its answers as
    (criterion id, value, score, rubric version number), in answer order."""

    score: float | None
    answers: list[tuple[int, float | None, float | None, int]]


def _instant(value: datetime) -> str:
    """As serializers.DateTimeField renders it: ISO 8601 in the current zone, UTC as Z."""
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


class AnswerData(TypedDict):
    """AnswerSerializer's output for one stored answer."""

    criterion: int
    value: float | None
    score: float | None
    rubric_version: int


class EvaluationData(TypedDict):
    """EvaluationSerializer's output for one stored evaluation (times as ISO 8601 text)."""

    id: int
    touch_point: int
    journey: int
    source: str
    observed_at: str
    submitted_at: str
    site: int | None
    comment: str
    client_key: str | None
    evaluator: int | None
    score: float | None
    rubric_version: int
    answers: list[AnswerData]


def submitted_data(
    evaluations: Sequence[Evaluation], derived: Mapping[int, DerivedScores]
) -> list[EvaluationData]:
    """EvaluationSerializer(many=True).data of just-stored evaluations, from the service's
    objects and their derived scores: no read back of each row, no serializer per item."""
    data: list[EvaluationData] = []
    for e in evaluations:
        scores = derived[e.pk]
        data.append(
            {
                "id": e.pk,
                "touch_point": e.touch_point_id,
                "journey": e.journey_id,
                "source": e.source,
                "observed_at": _instant(e.observed_at),
                "submitted_at": _instant(e.submitted_at),
                "site": e.site_id,
                "comment": e.comment,
                "client_key": e.client_key,
                "evaluator": e.evaluator_id,
                "score": _float(scores.score),
                "rubric_version": e.rubric_version,
                "answers": [
                    {
                        "criterion": criterion,
                        "value": _float(value),
                        "score": _float(score),
                        "rubric_version": version,
                    }
                    for criterion, value, score, version in scores.answers
                ],
            }
        )
    return data


class DetailSerializer(serializers.Serializer):  # type: ignore[type-arg]
    detail = serializers.CharField()
