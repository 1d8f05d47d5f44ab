"""REST API for scores: a journey's, a touch point's, and the weakest links of the organization.

Thin views: find the object in the caller's organization (another organization's is a
404), parse since/until/site/source, call scoring.selectors, shape the answer. Every
member may read. Without filters the answer is the workers' snapshot (`basis: snapshot`,
`computed_at`, `pending` when newer evaluations are not in it yet); with any filter it is
computed for the request (`basis: on_demand`).

A journey's snapshot answer is rendered once per process and kept (ScoresCache) under a
version read in one query that covers everything the answer shows; the same query checks
the journey belongs to the caller's organization, so no cached byte is served before
tenancy is. The version is the ETag: `If-None-Match` with it answers 304.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from django.http import Http404, HttpResponse
from django.urls import URLPattern, URLResolver, re_path
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from core import prepared
from core.api.errors import with_access_refusals
from core.api.tenancy import ORGANIZATION_PARAMETER, TenantScopedMixin, request_membership
from core.ids import parse_id
from journeys.models import Journey
from scoring import selectors
from scoring.serializers import (
    JourneyScoresSerializer,
    OrganizationWeakLinksSerializer,
    ScoresErrorSerializer,
    ScoresQueryErrorSerializer,
    ScoresQuerySerializer,
    TouchPointScoresSerializer,
    WeakLinksQuerySerializer,
    journey_scores_data,
)
from touchpoints.models import Source, TouchPoint

# --- Documentation -------------------------------------------------------------------------------

FILTER_PARAMETERS = [
    OpenApiParameter(
        "since",
        OpenApiTypes.STR,
        description=(
            "Start of the window (included): an ISO 8601 date (2026-01-01, from midnight "
            "UTC) or date-time with offset. Default: `until` minus the organization's window."
        ),
        examples=[OpenApiExample("A date", value="2026-01-01")],
    ),
    OpenApiParameter(
        "until",
        OpenApiTypes.STR,
        description=(
            "End of the window (excluded): an ISO 8601 date-time, or a date, which includes "
            f"that whole day. Default: now. since < until, at most {selectors.MAX_SPAN_DAYS} "
            "days apart."
        ),
        examples=[OpenApiExample("A date-time", value="2026-03-31T18:00:00Z")],
    ),
    OpenApiParameter(
        "site", OpenApiTypes.INT, description="Only evaluations made at this site (its id)."
    ),
    OpenApiParameter(
        "source", OpenApiTypes.STR, enum=Source.values, description="Only this source."
    ),
]
LIMIT_PARAMETER = OpenApiParameter(
    "limit",
    OpenApiTypes.INT,
    description=(
        f"How many weak links (default {selectors.DEFAULT_WEAK_LINKS}; larger values are "
        f"clamped to {selectors.MAX_WEAK_LINKS})."
    ),
)
ERRORS = {
    400: OpenApiResponse(
        ScoresQueryErrorSerializer,
        description="A bad query parameter, named with its messages.",
        examples=[
            OpenApiExample(
                "Window backwards",
                value={"until": ["Must be later than since."]},
                response_only=True,
                status_codes=["400"],
            )
        ],
    ),
    404: OpenApiResponse(
        ScoresErrorSerializer,
        description="No such object in your organization.",
    ),
}
ETAG_PARAMETER = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "The ETag of a snapshot answer you hold (no filters): 304 with no body while it is "
        "still the current one."
    ),
)

_STAGE = {"id": 7, "name": "Install", "position": 2}
_ROW = {
    "id": 42,
    "name": "Technician arrives on time",
    "channel": "in_person",
    "importance": 5,
    "stage": _STAGE,
    "evaluations": 31,
    "n": 30,
    "n_unscored": 1,
    "mean": 58.3,
    "sd": 21.4,
    "ci_low": 50.6,
    "ci_high": 66.0,
    "smoothed_score": 59.6,
    "target": 80.0,
    "status": "weak_link",
    "priority": 102.0,
    "is_last": False,
    "trend": {"change": -4.2, "previous_mean": 62.5, "direction": "down"},
    "latest_submitted_at": "2026-03-30T16:02:11Z",
    "pending": False,
}
_WEAK_LINK = {
    "rank": 1,
    "touch_point_id": 42,
    "name": "Technician arrives on time",
    "stage": _STAGE,
    "journey": {"id": 3, "name": "New broadband customer"},
    "n": 30,
    "smoothed_score": 59.6,
    "target": 80.0,
    "importance": 5,
    "is_last": False,
    "gap": 20.4,
    "weighted_gap": 102.0,
    "pending": False,
}
_SNAPSHOT = {
    "basis": "snapshot",
    "window": {"since": "2026-01-01T06:00:00Z", "until": "2026-03-31T06:00:00Z"},
    "site": None,
    "source": None,
    "computed_at": "2026-03-31T06:00:00Z",
    "pending": False,
}
JOURNEY_EXAMPLE = OpenApiExample(
    "A journey's scores",
    response_only=True,
    value={
        **_SNAPSHOT,
        "journey": {"id": 3, "name": "New broadband customer"},
        "score": 71.8,
        "n": 212,
        "prior": 70.4,
        "evaluations": 215,
        "latest_submitted_at": "2026-03-30T16:02:11Z",
        "status_counts": {"meets": 4, "at_risk": 2, "weak_link": 1, "insufficient_data": 1},
        "touch_points": [_ROW],
        "weak_links": [_WEAK_LINK],
        "blind_spots": [
            {"touch_point_id": 45, "name": "Welcome email", "stage": _STAGE, "n": 2},
        ],
    },
)
TOUCH_POINT_EXAMPLE = OpenApiExample(
    "A touch point's scores",
    response_only=True,
    value={
        **_SNAPSHOT,
        "journey": {"id": 3, "name": "New broadband customer"},
        "touch_point": _ROW,
        "prior": 70.4,
        "criteria": [
            {
                "id": 90,
                "name": "Arrived within the slot",
                "version": 2,
                "kind": "yes_no",
                "weight": 2.0,
                "critical": False,
                "archived": False,
                "n": 30,
                "mean": 53.3,
            }
        ],
        "by_source": [
            {"source": "supervisor", "label": "Supervisor", "n": 18, "mean": 63.0, "sd": 18.2},
            {
                "source": "customer_survey",
                "label": "Customer survey",
                "n": 12,
                "mean": 51.2,
                "sd": 24.9,
            },
        ],
        "by_site": [{"site": 5, "name": "Leeds depot", "n": 30, "mean": 58.3, "sd": 21.4}],
        "perception": {
            "internal_n": 18,
            "internal_mean": 63.0,
            "customer_n": 12,
            "customer_mean": 51.2,
            "min_n": 5,
            "gap": 11.8,
        },
        "weeks": [{"week_start": "2026-03-23", "n": 4, "mean": 56.2}],
    },
)
WEAK_LINKS_EXAMPLE = OpenApiExample(
    "The organization's weakest links",
    response_only=True,
    value={**_SNAPSHOT, "window": None, "weak_links": [_WEAK_LINK]},
)


# --- Views ---------------------------------------------------------------------------------------


def _query(request: Request, serializer_class: type[Serializer[Any]]) -> dict[str, Any]:
    """The query, parsed and checked (400 naming each bad parameter); `filters` holds the
    selectors.ScoreFilters."""
    serializer = serializer_class(
        data=request.query_params.dict(),
        context={"organization": request_membership(request).organization},
    )
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class _ScoresView(TenantScopedMixin, generics.GenericAPIView):  # type: ignore[type-arg]
    """Read-only, tenant-scoped, unpaginated: one object's scores."""

    pagination_class = None
    filter_backends: list[Any] = []


# --- The journey snapshot cache ------------------------------------------------------------------

# Everything a journey's snapshot answer shows, as text: the journey (name, target), its
# snapshot (when, over which window), each stage (name, position, archived), each touch
# point (stage, name, channel, importance, target, position, archived), its snapshot row
# (generation and time: a recompute writes both whenever a figure of the row moved) and
# whether it or the journey has a stale mark.
# Rows become text with row(...)::text, which quotes and positions every value, so no
# name can make two different states read alike. The journey must be the organization's.
_VERSION_SQL = """
SELECT md5(concat(
    row(j.name, j.target, js.computed_at, js.window_start, js.window_end,
        EXISTS (SELECT 1 FROM core_journeystalemark jm WHERE jm.journey_id = j.id))::text,
    (SELECT string_agg(row(s.id, s.name, s.position, s.archived_at IS NULL)::text, ';'
                       ORDER BY s.id)
       FROM journeys_stage s WHERE s.journey_id = j.id),
    (SELECT string_agg(
                row(tp.id, tp.stage_id, tp.name, tp.channel, tp.importance, tp.target,
                    tp.position, tp.archived_at IS NULL, ts.generation, ts.computed_at,
                    EXISTS (SELECT 1 FROM scoring_stalemark m WHERE m.touch_point_id = tp.id)
                )::text, ';' ORDER BY tp.id)
       FROM touchpoints_touchpoint tp
       LEFT JOIN scoring_touchpointscore ts ON ts.touch_point_id = tp.id
      WHERE tp.journey_id = j.id)
))
FROM journeys_journey j
LEFT JOIN scoring_journeyscore js ON js.journey_id = j.id
WHERE j.id = %s AND j.organization_id = %s
"""


def snapshot_version(journey_id: str, organization_id: int) -> str | None:
    """The version of the journey's snapshot answer, or None if the organization has no
    such journey (a malformed id included). One query."""
    parsed = parse_id(journey_id)
    if parsed is None:
        return None
    # Prepared: planning this query cost more than running it (core.prepared).
    row = prepared.fetch_one(_VERSION_SQL, [parsed, organization_id])
    return None if row is None else str(row[0])


class ScoresCache:
    """Rendered snapshot answers by (organization, journey), each with the version it was
    rendered at; least recently used out first. Per process, shared by its threads."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[int, int], tuple[str, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[int, int], version: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: tuple[int, int], version: str, body: bytes) -> None:
        with self._lock:
            self._entries[key] = (version, body)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


journey_snapshots = ScoresCache()


def _etag(version: str) -> str:
    return f'"{version}"'


def _not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("If-None-Match", "").strip()
    if not header:
        return False
    tags = {tag.removeprefix("W/") for tag in parse_etags(header)}
    return "*" in tags or etag in tags


@extend_schema(parameters=[ORGANIZATION_PARAMETER])
class JourneyScoresView(_ScoresView):
    queryset = Journey.objects.select_related("organization")
    serializer_class = JourneyScoresSerializer

    @extend_schema(
        operation_id="journeys_scores_retrieve",
        summary="A journey's scores",
        description=(
            "The journey score and every touch point on its map in map order (stage, then "
            "position): n, mean, sd, 95 % interval, smoothed score, target, status, trend and "
            "whether a recompute is pending; plus the weak links, ranked by weighted gap, "
            "and the blind spots. Any filter computes the figures for the request. Without "
            "filters the answer carries an ETag that changes whenever anything it shows "
            "does; send it back in If-None-Match to get 304 while it holds."
        ),
        parameters=[*FILTER_PARAMETERS, ETAG_PARAMETER],
        responses=with_access_refusals(
            {
                200: JourneyScoresSerializer,
                304: OpenApiResponse(
                    description="Not modified: your copy (If-None-Match) is current."
                ),
                **ERRORS,
            }
        ),
        examples=[JOURNEY_EXAMPLE],
    )
    def get(self, request: Request, pk: str) -> HttpResponse:
        if request.query_params:
            journey = self.get_object()  # first: a 400 must not tell an outsider it exists
            f: selectors.ScoreFilters = _query(request, ScoresQuerySerializer)["filters"]
            if not f.is_default:
                scores = selectors.journey_scores(
                    journey, window=f.window, site=f.site, source=f.source
                )
                return Response(journey_scores_data(scores))
        return self._snapshot(request, pk)

    def _snapshot(self, request: Request, pk: str) -> HttpResponse:
        """The snapshot answer: the version (and tenancy) first, then the cached body or a
        fresh one. Reading the version before the data means a recompute landing between
        the two can only store newer data under an older version, which the next request
        sees as stale and renders again; never older data under a newer version."""
        organization_id = self.membership.organization_id
        version = snapshot_version(pk, organization_id)
        if version is None:  # the API's usual 404, as get_object words it
            raise Http404(f"No {Journey._meta.object_name} matches the given query.")
        etag = _etag(version)
        if _not_modified(request, etag):
            response = HttpResponse(status=304)
        else:
            key = (organization_id, int(pk))  # parsed by snapshot_version above
            body = journey_snapshots.get(key, version)
            if body is None:
                scores = selectors.journey_scores(self.get_object())
                body = JSONRenderer().render(journey_scores_data(scores))
                journey_snapshots.put(key, version, body)
            response = HttpResponse(body, content_type="application/json")
        response["ETag"] = etag
        return response


@extend_schema(parameters=[ORGANIZATION_PARAMETER])
class TouchPointScoresView(_ScoresView):
    queryset = TouchPoint.objects.select_related("stage", "journey__organization")
    serializer_class = TouchPointScoresSerializer

    @extend_schema(
        operation_id="touchpoints_scores_retrieve",
        summary="A touch point's scores",
        description=(
            "The touch point's row of the journey map plus the mean of each criterion "
            "(with its current name and rubric version), splits by source and by site, the "
            "perception gap (internal minus customer view, when each side has min_n "
            "evaluations) and the last 12 weeks. An archived touch point has no scores: 404."
        ),
        parameters=FILTER_PARAMETERS,
        responses=with_access_refusals({200: TouchPointScoresSerializer, **ERRORS}),
        examples=[TOUCH_POINT_EXAMPLE],
    )
    def get(self, request: Request, pk: str) -> Response:
        touch_point = self.get_object()
        f: selectors.ScoreFilters = _query(request, ScoresQuerySerializer)["filters"]
        scores = selectors.touch_point_scores(
            touch_point, window=f.window, site=f.site, source=f.source
        )
        if scores is None:
            raise exceptions.NotFound("This touch point is archived: only the map is scored.")
        return Response(TouchPointScoresSerializer(scores).data)


@extend_schema(parameters=[ORGANIZATION_PARAMETER])
class WeakLinksView(generics.GenericAPIView):  # type: ignore[type-arg]
    serializer_class = OrganizationWeakLinksSerializer
    pagination_class = None
    filter_backends: list[Any] = []

    @extend_schema(
        operation_id="weak_links_list",
        summary="The weakest links across the organization",
        description=(
            "Touch points whose status is weak link, over every active journey, highest "
            "priority (weighted gap) first."
        ),
        parameters=[*FILTER_PARAMETERS, LIMIT_PARAMETER],
        responses=with_access_refusals({200: OrganizationWeakLinksSerializer, **ERRORS}),
        examples=[WEAK_LINKS_EXAMPLE],
    )
    def get(self, request: Request) -> Response:
        query = _query(request, WeakLinksQuerySerializer)
        f: selectors.ScoreFilters = query["filters"]
        result = selectors.organization_weak_links(
            request_membership(request).organization,
            limit=query["limit"],
            window=f.window,
            site=f.site,
            source=f.source,
        )
        return Response(OrganizationWeakLinksSerializer(result).data)


# Distinct from the routers' journeys/<pk>/ and touchpoints/<pk>/ (which end there or at
# their actions), so all three apps mount side by side under /api/v1/. pk is matched as the
# routers match it, so a malformed id is a JSON 404 here too.
urlpatterns: list[URLPattern | URLResolver] = [
    re_path(
        r"^journeys/(?P<pk>[^/.]+)/scores/$", JourneyScoresView.as_view(), name="journey-scores"
    ),
    re_path(
        r"^touchpoints/(?P<pk>[^/.]+)/scores/$",
        TouchPointScoresView.as_view(),
        name="touchpoint-scores",
    ),
    re_path(r"^weak-links/$", WeakLinksView.as_view(), name="weak-links"),
]
