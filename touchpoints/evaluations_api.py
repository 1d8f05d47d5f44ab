"""REST API for evaluations: submit one or a batch (all or none, optionally idempotent),
list them with filters, read one with its answers.

The view only parses and formats: `touchpoints.services.submit_evaluations` decides what
is valid and stores it, `core.api.idempotency` makes a retried POST store nothing twice.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Prefetch, QuerySet
from django.http import HttpResponse
from django.urls import include, path
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, viewsets
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.throttling import ScopedRateThrottle

from accounts.access import signed_in_user
from accounts.models import ROLES_THAT_EVALUATE, Membership
from core.api.errors import FIELD_ERRORS_SCHEMA, with_access_refusals
from core.api.idempotency import (
    IDEMPOTENCY_HEADER,
    StoredResponse,
    clean_key,
    fingerprint,
    run_idempotent,
)
from core.api.pagination import NO_SUCH_PAGE, PageOrCursorPagination
from core.api.tenancy import ORGANIZATION_PARAMETER, TenantScopedMixin
from touchpoints.evaluation_filters import EvaluationFilter
from touchpoints.evaluation_serializers import (
    DerivedScores,
    DetailSerializer,
    EvaluationInputError,
    EvaluationInputSerializer,
    EvaluationSerializer,
    StrictJSONParser,
    error_body,
    submitted_data,
    to_inputs,
)
from touchpoints.models import Answer, Evaluation
from touchpoints.services import MAX_BATCH, BatchValidationError, submit_evaluations


def evaluations_with_answers() -> QuerySet[Evaluation]:
    """Evaluations with their answers and the answers' rubric versions: three queries
    for any number of rows (evaluations, answers, nothing per row)."""
    return Evaluation.objects.prefetch_related(
        Prefetch("answers", queryset=Answer.objects.select_related("criterion_version"))
    )


# --- OpenAPI ------------------------------------------------------------------------------

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    name=IDEMPOTENCY_HEADER,
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Up to 200 printable ASCII characters, e.g. a UUID, unique per request. A retry "
        "with the same key and the same body gets the first response again (header "
        "`Idempotent-Replayed: true`) and stores nothing; the same key with a different "
        "body, or while the first request is still running, answers 409. A refused "
        "request (4xx) is not remembered. Keys are kept for 24 hours per organization."
    ),
)

SUBMISSION = PolymorphicProxySerializer(
    component_name="EvaluationSubmission",
    serializers=[EvaluationInputSerializer, EvaluationInputSerializer(many=True)],
    resource_type_field_name=None,
    many=False,
)
SUBMITTED = PolymorphicProxySerializer(
    component_name="EvaluationSubmitted",
    serializers=[EvaluationSerializer, EvaluationSerializer(many=True)],
    resource_type_field_name=None,
    many=False,
)
_MESSAGES = {"type": "array", "items": {"type": "string"}}
SUBMISSION_ERRORS = {
    "oneOf": [
        {
            "type": "object",
            "description": "One evaluation refused: messages by field path.",
            "additionalProperties": _MESSAGES,
        },
        {
            "type": "object",
            "description": "A batch refused: nothing stored; messages by item and field path.",
            "properties": {
                "detail": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "index": {"type": "integer"},
                            "fields": {"type": "object", "additionalProperties": _MESSAGES},
                        },
                        "required": ["index", "fields"],
                    },
                },
            },
            "required": ["detail", "errors"],
        },
    ]
}

ONE_EVALUATION = {
    "touch_point": 12,
    "source": "mystery_shopper",
    "observed_at": "2026-05-01T14:30:00+02:00",
    "site": 3,
    "comment": "Greeted by name, but the counter was sticky.",
    # Demo ids (fresh database): criterion 40 is yes/no (1 = yes), 41 counts steps.
    "answers": [{"criterion": 40, "value": 1}, {"criterion": 41, "value": 4}],
    "client_key": "shop-visit-2026-05-01-0042",
}
STORED_EVALUATION = {
    "id": 981,
    "touch_point": 12,
    "journey": 1,
    "source": "mystery_shopper",
    "observed_at": "2026-05-01T12:30:00Z",
    "submitted_at": "2026-05-01T12:41:07.512000Z",
    "site": 3,
    "comment": "Greeted by name, but the counter was sticky.",
    "client_key": "shop-visit-2026-05-01-0042",
    "evaluator": 7,
    "score": 92.9,
    "rubric_version": 4,
    "answers": [
        {"criterion": 40, "value": 1.0, "score": 100.0, "rubric_version": 2},
        {"criterion": 41, "value": 4.0, "score": 85.7, "rubric_version": 1},
    ],
}

SUBMIT_SCHEMA = extend_schema(
    summary="Submit one evaluation, or a batch of up to 500 (all stored or none)",
    description=(
        "Send one evaluation object, or a list of 1 to 500. The evaluator is always the "
        "caller; `id`, `score`, `submitted_at`, `rubric_version`, `organization` and "
        "`evaluator` are set by the server, never taken from the body (a member the endpoint "
        "does not read is ignored, as on every write). A batch is stored "
        "whole or not at all: a 400 lists every problem of every item. Managers and "
        "evaluators may submit."
    ),
    parameters=[IDEMPOTENCY_PARAMETER],
    request=SUBMISSION,
    responses=with_access_refusals(
        {
            201: OpenApiResponse(SUBMITTED, description="Stored: the evaluation, or the list."),
            400: OpenApiResponse(
                SUBMISSION_ERRORS,
                description="Refused, nothing stored. One evaluation: messages by field. A "
                "batch: a detail and the errors of each bad item by its index. A client_key "
                "the organization already has, or that an earlier item of the request "
                "carries, is refused here too (on that item's client_key), also when a "
                "concurrent request stored it first.",
            ),
            403: OpenApiResponse(DetailSerializer, description="Viewers cannot submit."),
            409: OpenApiResponse(
                DetailSerializer,
                description="The Idempotency-Key was used with a different request, or its "
                "first request is still running (with Retry-After).",
            ),
            413: OpenApiResponse(
                DetailSerializer,
                description=f"Body over 1 MB, or more than {MAX_BATCH} evaluations.",
            ),
            429: OpenApiResponse(
                DetailSerializer,
                description="Too many submissions; retry after Retry-After seconds.",
            ),
        }
    ),
    examples=[
        OpenApiExample("One evaluation", value=ONE_EVALUATION, request_only=True),
        OpenApiExample(
            "A batch",
            value=[ONE_EVALUATION, {**ONE_EVALUATION, "client_key": "shop-visit-0043"}],
            request_only=True,
        ),
        OpenApiExample("Stored", value=STORED_EVALUATION, response_only=True, status_codes=["201"]),
        OpenApiExample(
            "One evaluation refused",
            value={
                "touch_point": ["No such touch point."],
                "answers[1].value": ["Counter was clean: Must be 1 (yes) or 0 (no)."],
            },
            response_only=True,
            status_codes=["400"],
        ),
        OpenApiExample(
            "A batch refused",
            value={
                "detail": "Nothing was stored: 1 item of the batch have errors. Correct "
                "them and send the whole batch again.",
                "errors": [
                    {
                        "index": 3,
                        "fields": {
                            "answers[1].value": [
                                "Must be a finite number (NaN, Infinity and 1e309 are not)."
                            ]
                        },
                    }
                ],
            },
            response_only=True,
            status_codes=["400"],
        ),
        OpenApiExample(
            "Key reused",
            value={
                "detail": "This Idempotency-Key was already used with a different request "
                "(caller, method, path or body). Use a new key for a new request."
            },
            response_only=True,
            status_codes=["409"],
        ),
    ],
)


# --- Views --------------------------------------------------------------------------------


class SubmissionThrottle(ScopedRateThrottle):
    """The "evaluations" rate applies to submissions; reads are not throttled."""

    def allow_request(self, request: Request, view: Any) -> bool:
        return request.method in SAFE_METHODS or super().allow_request(request, view)


@extend_schema(parameters=[ORGANIZATION_PARAMETER])
@extend_schema_view(
    list=extend_schema(
        summary="List evaluations, newest observation first",
        description="Every member of the organization may read. Filter by touch point, "
        "journey, site, source and a half-open observed_at window.",
        responses=with_access_refusals(
            {
                200: EvaluationSerializer(many=True),
                400: OpenApiResponse(FIELD_ERRORS_SCHEMA, description="A malformed filter value."),
                **NO_SUCH_PAGE,
            }
        ),
    ),
    retrieve=extend_schema(
        summary="One evaluation with its answers",
        description="Another organization's evaluation answers 404, like a missing one.",
        responses=with_access_refusals(
            {
                200: EvaluationSerializer,
                404: OpenApiResponse(
                    DetailSerializer, description="No such evaluation in your organization."
                ),
            }
        ),
        examples=[OpenApiExample("Stored", value=STORED_EVALUATION, response_only=True)],
    ),
    create=SUBMIT_SCHEMA,
)
class EvaluationViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,  # type: ignore[type-arg]
):
    """Evaluations of the caller's organization: any member reads, managers and
    evaluators submit."""

    queryset = evaluations_with_answers()
    serializer_class = EvaluationSerializer
    parser_classes = [StrictJSONParser]
    filterset_class = EvaluationFilter
    ordering_fields = ["observed_at", "submitted_at", "id"]
    ordering = ["-observed_at", "-id"]
    pagination_class = PageOrCursorPagination
    write_roles = ROLES_THAT_EVALUATE
    throttle_classes = [SubmissionThrottle]
    throttle_scope = "evaluations"

    def create(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        membership = self.membership
        payload = request.data
        if isinstance(payload, list) and len(payload) > MAX_BATCH:
            return Response(
                {
                    "detail": f"At most {MAX_BATCH} evaluations per request (this one has "
                    f"{len(payload)}); split the batch."
                },
                status=413,
            )
        items, batch = to_inputs(payload)
        key = clean_key(request.headers.get(IDEMPOTENCY_HEADER))

        def submit() -> tuple[int, Any]:
            return 201, self._submit(membership, items, batch=batch)

        try:
            if key is None:
                status, data = submit()
                return Response(data, status=status)
            stored = run_idempotent(
                organization_id=membership.organization_id,
                key=key,
                fingerprint=fingerprint(
                    user_id=signed_in_user(request).pk,  # IsAuthenticated has run
                    method=request.method or "",
                    path=request.path,
                    body=payload,
                ),
                action=submit,
            )
        except BatchValidationError as exc:
            raise EvaluationInputError(error_body(exc.item_errors, batch=batch)) from None
        return _stored_response(stored)

    def _submit(self, membership: Membership, items: list[Any], *, batch: bool) -> Any:
        evaluations = submit_evaluations(
            evaluator=signed_in_user(self.request),
            organization=membership.organization,
            items=items,
        )
        data = submitted_data(evaluations, _derived([e.pk for e in evaluations]))
        return data if batch else data[0]


# Everything of the stored evaluations the service's objects do not hold: the scores SQL
# derived after the insert, and each answer as stored (value, rubric version), in answer
# order. Both sides name the ids, so the planner uses the indexes whatever the table size.
_DERIVED_SQL = """
SELECT e.id, e.score, a.criterion_id, a.value, a.score, cv.number
FROM touchpoints_evaluation e
LEFT JOIN touchpoints_answer a ON a.evaluation_id = e.id AND a.evaluation_id = ANY(%s)
LEFT JOIN touchpoints_criterionversion cv ON cv.id = a.criterion_version_id
WHERE e.id = ANY(%s)
ORDER BY e.id, a.id
"""


def _derived(ids: list[int]) -> dict[int, DerivedScores]:
    """The derived scores and stored answers of these evaluations, in one query."""
    derived: dict[int, DerivedScores] = {}
    with connection.cursor() as cursor:
        cursor.execute(_DERIVED_SQL, [ids, ids])
        for evaluation_id, score, criterion_id, value, answer_score, version in cursor:
            scores = derived.setdefault(evaluation_id, DerivedScores(score, []))
            if criterion_id is not None:
                scores.answers.append((criterion_id, value, answer_score, version))
    return derived


def _stored_response(stored: StoredResponse) -> HttpResponse:
    response = HttpResponse(stored.body, status=stored.status, content_type="application/json")
    if stored.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


router = SimpleRouter()
router.register("evaluations", EvaluationViewSet, basename="evaluation")

urlpatterns = [path("", include(router.urls))]
