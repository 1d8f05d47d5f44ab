"""The evaluation form: pick a touch point, answer its criteria, submit, see it confirmed.

Built for an evaluator standing in a shop with a phone in one hand. Works without
JavaScript (links, a GET search, a POST form); htmx only filters the touch point list as
they type. Every submission goes through `touchpoints.services.submit_evaluation`, the
same write path as the API, so both refuse the same things with the same messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import groupby

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Max, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import signed_in_user
from accounts.models import Membership, Organization, User
from core.ids import parse_id
from touchpoints.models import Criterion, Evaluation, Site, TouchPoint
from touchpoints.services import submit_evaluation
from web.context import is_htmx, require_membership
from web.forms_evaluate import EvaluationForm, new_client_key, parse_zone

RECENT_LIMIT = 5
# A phone list longer than this is a scroll nobody finishes; the search narrows it.
PICKER_LIMIT = 100
# A refused submission is a 4xx like the editor's and the API's, with the form and its
# messages as the body (browsers show it the same; scripts and monitors see the refusal).
REFUSED_STATUS = 400


@dataclass
class StageGroup:
    journey: str
    stage: str
    touch_points: list[TouchPoint]


@dataclass
class Picker:
    """The touch point list: this user's recent ones first, then all by journey and stage."""

    query: str
    recent: list[TouchPoint] = field(default_factory=list)
    groups: list[StageGroup] = field(default_factory=list)
    truncated: bool = False

    @property
    def count(self) -> int:
        return sum(len(g.touch_points) for g in self.groups)


# --- Reads ------------------------------------------------------------------------------------


def evaluable_touch_points(organization: Organization) -> QuerySet[TouchPoint]:
    """Touch points that take evaluations (TouchPointQuerySet.evaluable)."""
    return (
        TouchPoint.objects.for_organization(organization)
        .evaluable()
        .select_related("stage", "journey")
    )


def _matching(touch_points: QuerySet[TouchPoint], query: str) -> QuerySet[TouchPoint]:
    if not query:
        return touch_points
    return touch_points.filter(
        Q(name__icontains=query)
        | Q(stage__name__icontains=query)
        | Q(journey__name__icontains=query)
    )


def recent_touch_point_ids(user: User, organization: Organization) -> list[int]:
    """The touch points this user evaluated most recently, newest first."""
    rows = (
        Evaluation.objects.for_organization(organization)
        .filter(evaluator_id=user.pk)
        .values("touch_point_id")
        .annotate(last=Max("submitted_at"))
        .order_by("-last", "-touch_point_id")[:RECENT_LIMIT]
    )
    return [row["touch_point_id"] for row in rows]


def build_picker(user: User, organization: Organization, query: str) -> Picker:
    """Three queries whatever the organization's size: recent ids, recent rows, the list."""
    candidates = _matching(evaluable_touch_points(organization), query)
    recent_ids = recent_touch_point_ids(user, organization)
    by_id = {tp.pk: tp for tp in candidates.filter(pk__in=recent_ids)} if recent_ids else {}
    listed = list(
        candidates.order_by(
            "journey__name", "journey_id", "stage__position", "stage_id", "position"
        )[: PICKER_LIMIT + 1]
    )
    groups = [
        StageGroup(journey=rows[0].journey.name, stage=rows[0].stage.name, touch_points=rows)
        for rows in (
            list(group) for _, group in groupby(listed[:PICKER_LIMIT], key=lambda tp: tp.stage_id)
        )
    ]
    return Picker(
        query=query,
        recent=[by_id[pk] for pk in recent_ids if pk in by_id],
        groups=groups,
        truncated=len(listed) > PICKER_LIMIT,
    )


def _active_criteria(touch_point: TouchPoint | None) -> list[Criterion]:
    if touch_point is None:
        return []
    return list(
        Criterion.objects.filter(touch_point_id=touch_point.pk, archived_at__isnull=True)
        .select_related("current_version")
        .order_by("position", "id")
    )


def _active_sites(organization: Organization) -> list[Site]:
    return list(Site.objects.for_organization(organization).filter(archived_at__isnull=True))


def _defaults(user: User, organization: Organization) -> dict[str, object]:
    """Source and site of this user's last evaluation: an evaluator rarely changes them."""
    last = (
        Evaluation.objects.for_organization(organization)
        .filter(evaluator_id=user.pk)
        .order_by("-submitted_at", "-id")
        .values("source", "site_id")
        .first()
    )
    if last is None:
        return {}
    return {"source": last["source"], "site": last["site_id"]}


# --- Views ------------------------------------------------------------------------------------


def _evaluating_membership(request: HttpRequest) -> Membership | HttpResponse:
    """The acting membership, or the page telling a viewer their role cannot evaluate."""
    membership = require_membership(request)
    if not membership.can_evaluate:
        return render(
            request, "web/evaluate_forbidden.html", {"membership": membership}, status=403
        )
    return membership


def _render_form(
    request: HttpRequest,
    membership: Membership,
    form: EvaluationForm,
    touch_point: TouchPoint | None,
    *,
    status: int = 200,
) -> HttpResponse:
    picker = None
    if touch_point is None:
        picker = build_picker(signed_in_user(request), membership.organization, "")
    context = {"form": form, "touch_point": touch_point, "picker": picker}
    return render(request, "web/evaluate.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def evaluate(request: HttpRequest) -> HttpResponse:
    """GET: the touch point list, or the form for `?touch_point=`. POST: submit."""
    found = _evaluating_membership(request)
    if isinstance(found, HttpResponse):
        return found
    if request.method == "POST":
        return _submit(request, found)
    organization = found.organization
    user = signed_in_user(request)
    touch_point_id = parse_id(request.GET.get("touch_point"))
    if touch_point_id is None:
        picker = build_picker(user, organization, request.GET.get("q", "").strip()[:100])
        template = "web/evaluate.html#picker-list" if is_htmx(request) else "web/evaluate.html"
        response = render(request, template, {"picker": picker, "form": None})
        patch_vary_headers(response, ["HX-Request"])
        return response
    touch_point = get_object_or_404(evaluable_touch_points(organization), pk=touch_point_id)
    form = EvaluationForm(
        initial={
            "touch_point": touch_point.pk,
            "client_key": new_client_key(),
            **_defaults(user, organization),
        },
        criteria=_active_criteria(touch_point),
        sites=_active_sites(organization),
    )
    return _render_form(request, found, form, touch_point)


def _submit(request: HttpRequest, membership: Membership) -> HttpResponse:
    organization = membership.organization
    user = signed_in_user(request)
    # Any touch point of this organization, archived or not: refusing an archived one is
    # the service's decision, with its own message. Another organization's is not found.
    touch_point = (
        TouchPoint.objects.for_organization(organization)
        .select_related("stage", "journey")
        .filter(pk=parse_id(request.POST.get("touch_point")))
        .first()
    )
    form = EvaluationForm(
        request.POST,
        criteria=_active_criteria(touch_point),
        sites=_active_sites(organization),
    )
    if not form.is_valid():
        return _render_form(request, membership, form, touch_point, status=REFUSED_STATUS)
    data = form.cleaned_data
    try:
        evaluation = submit_evaluation(
            evaluator=user,
            organization=organization,
            touch_point_id=data["touch_point"],
            source=data["source"],
            observed_at=form.observed_time(timezone.now()),
            answers=form.answers(),
            site_id=data["site"],
            comment=data["comment"],
            client_key=data["client_key"],
        )
    except ValidationError as exc:
        already = _already_submitted(user, organization, data["client_key"], exc)
        if already is not None:
            return _done(already.pk, data["tz"])
        form.add_service_errors(exc.message_dict)
        return _render_form(request, membership, form, touch_point, status=REFUSED_STATUS)
    return _done(evaluation.pk, data["tz"])


def _done(pk: int, zone: str | None) -> HttpResponse:
    """To the confirmation, carrying the evaluator's time zone (the form asked the time in
    it, so the confirmation answers in it too)."""
    url = reverse("evaluate-done", kwargs={"pk": pk})
    return HttpResponseRedirect(f"{url}?{urlencode({'tz': zone})}" if zone else url)


def _already_submitted(
    user: User, organization: Organization, client_key: str | None, exc: ValidationError
) -> Evaluation | None:
    """The evaluation a double-tapped or retried Submit already stored, if that is why
    the service refused: the user then sees its confirmation, not an error."""
    if client_key is None or "client_key" not in exc.message_dict:
        return None
    return (
        Evaluation.objects.for_organization(organization)
        .filter(evaluator_id=user.pk, client_key=client_key)
        .first()
    )


@login_required
@require_GET
def evaluate_done(request: HttpRequest, pk: int) -> HttpResponse:
    """The confirmation: what was stored, its score, and the way to the next one."""
    found = _evaluating_membership(request)
    if isinstance(found, HttpResponse):
        return found
    evaluation = (
        Evaluation.objects.for_organization(found.organization)
        .filter(pk=pk, evaluator_id=request.user.pk)
        .select_related("touch_point__stage", "touch_point__journey", "site")
        .first()
    )
    if evaluation is None:
        raise Http404("No such evaluation.")
    zone = parse_zone(request.GET.get("tz", "")[:64])
    context = {"evaluation": evaluation, "zone": zone}
    return render(request, "web/evaluate_done.html", context)
