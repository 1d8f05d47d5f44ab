"""Browser pages: short function views that parse, authorize, read, render.

Tenancy: every object is looked up among the organizations the user belongs to (web.context),
so another organization's journey or touch point is a 404, exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.access import signed_in_user
from accounts.forms import GuardedPasswordChangeForm
from accounts.models import ApiToken, Membership
from accounts.tokens import EXPIRY_CHOICES, create_token, revoke_all_tokens, revoke_token
from alerts.selectors import current_actions
from core.ids import parse_id
from feedback import selectors as feedback_selectors
from journeys.models import Journey, JourneyStatus, Stage
from scoring import selectors
from touchpoints.models import Criterion, Evaluation, TouchPoint
from web import action_panel, charts
from web.context import choose_organization as choose
from web.context import (
    is_htmx,
    journey_for_member,
    memberships,
    require_membership,
    touch_point_for_member,
)
from web.filters import PageFilters, page_filters, source_choices
from web.live import live_context

View = Callable[..., HttpResponseBase]
EVALUATIONS_PER_PAGE = 20
# How often a page showing "recompute pending" asks for the fresh figures.
POLL_SECONDS = 3


def member_page(view: View) -> View:
    """A page for signed-in members: GET only, and never stored by the browser, so the back
    button after signing out shows no organization data."""
    return never_cache(login_required(require_GET(view)))


def _safe_next(request: HttpRequest, fallback: str) -> str:
    """The `next` parameter if it points back into this site, else `fallback`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


# --- Overview ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A figure against the same figure over the previous period of the same length."""

    change: float | None
    previous: float | None
    direction: str | None


def _change(current: float | None, previous: float | None) -> Change:
    change = None if current is None or previous is None else round(current - previous, 1)
    return Change(change, previous, selectors.trend_direction(change))


def _filters_context(filters: PageFilters) -> dict[str, Any]:
    return {"filters": filters, "sources": source_choices()}


@member_page
def overview(request: HttpRequest) -> HttpResponse:
    """Each journey with its score and status counts, and the weakest links across them."""
    membership = require_membership(request)
    organization = membership.organization
    filters = page_filters(request, organization)
    journeys = list(
        Journey.objects.for_organization(organization)
        .select_related("organization")
        .order_by("name", "id")
    )
    current = [j for j in journeys if j.status != JourneyStatus.ARCHIVED]
    if filters.active:
        scores = [selectors.journey_scores(j, **filters.selector_args()) for j in current]
    else:
        scores = selectors.journeys_scores(current)
    weeks = selectors.journeys_weeks(current, **filters.selector_args())
    cards = []
    for journey, s in zip(current, scores, strict=True):
        previous = filters.previous_args(s.window)
        change = (
            _change(s.score, selectors.journey_scores(journey, **previous).score)
            if previous
            else None
        )
        cards.append(
            {
                "journey": journey,
                "scores": s,
                "change": change,
                "spark": charts.sparkline(weeks.get(journey.pk, []), journey.target),
                "against_target": charts.against_target(s.score, journey.target),
            }
        )
    context = {
        "nav": "overview",
        "membership": membership,
        "organization": organization,
        "journeys": cards,
        "archived": [j for j in journeys if j.status == JourneyStatus.ARCHIVED],
        "weakest": selectors.organization_weak_links(
            organization, limit=5, **filters.selector_args()
        ),
        **_filters_context(filters),
    }
    return render(request, "web/overview.html", context)


# --- Journey map ------------------------------------------------------------------------------


def _customer_voices(
    rows: list[selectors.TouchPointRow], window: selectors.Period | None
) -> dict[int, int]:
    """Customers' own answers (through a feedback link) among each score's evaluations."""
    if window is None:  # never computed: no score includes anything yet
        return {}
    return feedback_selectors.customer_voices(
        {row.id: row.latest_submitted_at for row in rows}, since=window.since, until=window.until
    )


def _criteria_counts(journey: Journey) -> dict[int, int]:
    """Touch point id -> its active criteria (managers' cards say so; one query)."""
    rows = (
        Criterion.objects.filter(touch_point__journey_id=journey.pk, archived_at__isnull=True)
        .values("touch_point_id")
        .annotate(n=Count("id"))
        .values_list("touch_point_id", "n")
    )
    return dict(rows)


def map_context(journey: Journey, membership: Membership, filters: PageFilters) -> dict[str, Any]:
    """Stages in order, each with its touch points' cards, plus the journey's figures."""
    scores = selectors.journey_scores(journey, **filters.selector_args())
    previous_args = filters.previous_args(scores.window)
    previous = selectors.journey_scores(journey, **previous_args) if previous_args else None
    before = {row.id: row for row in previous.touch_points} if previous else {}
    stages = list(Stage.objects.filter(journey_id=journey.pk, archived_at__isnull=True))
    ranks = {w.touch_point_id: w.rank for w in scores.weak_links}
    actions = current_actions(journey.pk)
    cards: dict[int, list[dict[str, Any]]] = {stage.pk: [] for stage in stages}
    voices = _customer_voices(scores.touch_points, scores.window)
    criteria = _criteria_counts(journey) if membership.can_edit_structure else {}
    for number, row in enumerate(scores.touch_points, start=1):
        old = before.get(row.id)
        cards.setdefault(row.stage.id, []).append(
            {
                "row": row,
                "rank": ranks.get(row.id),
                "voices": voices.get(row.id, 0),
                "number": number,
                "change": _change(row.smoothed_score, old.smoothed_score if old else None)
                if previous
                else None,
                "action": actions.get(row.id),
                "criteria": criteria.get(row.id, 0),
            }
        )
    line = charts.journey_line(
        [
            charts.LinePoint(row.name, row.stage.name, row.smoothed_score, row.target, row.status)
            for row in scores.touch_points
        ]
    )
    return {
        **_filters_context(filters),
        "previous": previous,
        "score_change": _change(scores.score, previous.score) if previous else None,
        "journey": journey,
        "membership": membership,
        "can_edit": membership.can_edit_structure,
        "can_evaluate": membership.can_evaluate,
        "scores": scores,
        "columns": [(stage, cards[stage.pk]) for stage in stages],
        "line": line,
        "poll_seconds": POLL_SECONDS,
    }


@member_page
def journey_map(request: HttpRequest, journey_id: int) -> HttpResponse:
    journey, membership = journey_for_member(request, journey_id)
    filters = page_filters(request, journey.organization)
    context = map_context(journey, membership, filters)
    context.update(live_context(request, journey))
    return render(request, "web/journey_map.html", context)


@member_page
def journey_map_body(request: HttpRequest, journey_id: int) -> HttpResponse:
    """The map without the page around it: what htmx swaps in once a new score has landed."""
    journey, membership = journey_for_member(request, journey_id)
    filters = page_filters(request, journey.organization)
    return render(
        request, "web/journey_map.html#map-body", map_context(journey, membership, filters)
    )


@member_page
def touch_point_card(request: HttpRequest, touch_point_id: int) -> HttpResponse:
    """One card of the map, polled while its recompute is pending. When the new score has
    landed, the response tells the page (HX-Trigger) so the whole map refreshes: a new
    evaluation moves the journey's prior, hence every card, the line and the weak links."""
    touch_point, membership = touch_point_for_member(request, touch_point_id)
    filters = page_filters(request, touch_point.organization)
    context = map_context(touch_point.journey, membership, filters)
    card = next(
        (
            card
            for _, column in context["columns"]
            for card in column
            if card["row"].id == touch_point.pk
        ),
        None,
    )
    if card is None:  # archived since the page was drawn: it leaves the map
        response = HttpResponse("")
        response["HX-Trigger"] = "touchstone:scored"
        return response
    context["card"] = card
    response = render(request, "web/journey_map.html#card", context)
    if not card["row"].pending:
        response["HX-Trigger"] = "touchstone:scored"
    return response


# --- Touch-point detail -----------------------------------------------------------------------


def _criteria_rows(scores: selectors.TouchPointScores) -> list[dict[str, Any]]:
    """Criteria in form order, the one that costs the score most flagged: the largest
    weighted shortfall from a perfect answer, among criteria below the touch point's target."""
    target = scores.touch_point.target
    rows: list[dict[str, Any]] = [{"criterion": c, "drags": False} for c in scores.criteria]
    scored = [r for r in rows if r["criterion"].mean is not None and r["criterion"].mean < target]
    if scored:
        worst = max(scored, key=lambda r: r["criterion"].weight * (100 - r["criterion"].mean))
        worst["drags"] = True
    return rows


def _scores_context(
    touch_point: TouchPoint, membership: Membership, filters: PageFilters
) -> dict[str, Any]:
    scores = selectors.touch_point_scores(touch_point, **filters.selector_args())
    previous_args = filters.previous_args(scores.window) if scores is not None else None
    previous = selectors.touch_point_scores(touch_point, **previous_args) if previous_args else None
    context: dict[str, Any] = {
        **_filters_context(filters),
        "previous": previous,
        "touch_point": touch_point,
        "journey": touch_point.journey,
        "membership": membership,
        "can_edit": membership.can_edit_structure,
        "can_evaluate": membership.can_evaluate,
        "scores": scores,
        "poll_seconds": POLL_SECONDS,
    }
    if scores is not None:
        if previous is not None:
            now_row, old_row = scores.touch_point, previous.touch_point
            context["changes"] = {
                "smoothed": _change(now_row.smoothed_score, old_row.smoothed_score),
                "mean": _change(now_row.mean, old_row.mean),
                "n": _change(now_row.n, old_row.n),
            }
        context["criteria"] = _criteria_rows(scores)
        # Customers who answered through a feedback link, apart from staff-entered
        # customer surveys: in the score, per site, and beside the perception gap.
        window = scores.window
        by_site = (
            feedback_selectors.customer_voices_by_site(
                touch_point.pk,
                since=window.since,
                until=window.until,
                last_included=scores.touch_point.latest_submitted_at,
            )
            if window
            else {}
        )
        context["via_link"] = sum(by_site.values())  # every site, and none
        context["sites"] = [
            {"split": s, "via_link": by_site.get(s.site_id, 0)} for s in scores.by_site
        ]
        context["trend"] = charts.trend_chart(
            [charts.WeekPoint(w.week_start, w.n, w.mean) for w in scores.weeks],
            scores.touch_point.target,
        )
    return context


def filtered_evaluations(touch_point: TouchPoint, filters: PageFilters) -> QuerySet[Evaluation]:
    """The touch point's evaluations the filters select, newest first (the page's list and
    its CSV download)."""
    evaluations = Evaluation.objects.filter(touch_point_id=touch_point.pk)
    if filters.window is not None:
        evaluations = evaluations.filter(
            observed_at__gte=filters.window.since, observed_at__lt=filters.window.until
        )
    if filters.site is not None:
        evaluations = evaluations.filter(site_id=filters.site.pk)
    if filters.checked.source:
        evaluations = evaluations.filter(source=filters.checked.source)
    return evaluations.select_related("evaluator", "site").order_by("-observed_at", "-id")


@member_page
def touch_point_detail(request: HttpRequest, touch_point_id: int) -> HttpResponse:
    touch_point, membership = touch_point_for_member(request, touch_point_id)
    filters = page_filters(request, touch_point.organization)
    context = _scores_context(touch_point, membership, filters)
    evaluations = filtered_evaluations(touch_point, filters)
    context.update(live_context(request, touch_point.journey))
    page = Paginator(evaluations, EVALUATIONS_PER_PAGE).get_page(request.GET.get("page"))
    context["evaluations"] = page
    context["feedback"] = feedback_selectors.touch_point_feedback(touch_point)
    scores = context["scores"]
    target = scores.touch_point.target if scores is not None else None
    context.update(action_panel.action_context(touch_point, membership, target))
    if is_htmx(request) and request.GET.get("page"):
        return render(request, "web/touch_point.html#evaluations", context)
    return render(request, "web/touch_point.html", context)


@member_page
def touch_point_scores_part(request: HttpRequest, touch_point_id: int) -> HttpResponse:
    """The score sections of the detail page, polled while a recompute is pending."""
    touch_point, membership = touch_point_for_member(request, touch_point_id)
    filters = page_filters(request, touch_point.organization)
    return render(
        request, "web/touch_point.html#scores", _scores_context(touch_point, membership, filters)
    )


FAVICON = Path(settings.BASE_DIR) / "static" / "favicon.ico"


@cache
def _favicon_bytes() -> bytes:
    return FAVICON.read_bytes()


@require_GET
@cache_control(public=True, max_age=86400)
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers ask for on their own whatever the page links: the same
    icon as the linked static one, so the first load of every page is not a 404."""
    return HttpResponse(_favicon_bytes(), content_type="image/x-icon")


@login_required
@require_POST
def choose_organization(request: HttpRequest) -> HttpResponse:
    """Switch the acting organization (kept in the session) and go back where the user was."""
    organization_id = parse_id(request.POST.get("organization", "")) or 0
    if choose(request, organization_id) is None:
        messages.error(request, "You are not a member of that organization.")
    return HttpResponseRedirect(_safe_next(request, reverse("overview")))


# --- The user's page: organizations and API tokens --------------------------------------------


def _account_context(request: HttpRequest) -> dict[str, object]:
    return {
        "nav": "account",
        "memberships": memberships(request),
        "tokens": ApiToken.objects.filter(
            user_id=signed_in_user(request).pk, revoked_at__isnull=True
        ),
        "expiry_choices": EXPIRY_CHOICES,
    }


def _render_tokens(
    request: HttpRequest, context: dict[str, object], status: int = 200
) -> HttpResponse:
    """The whole page, or only its tokens section when htmx asked for it."""
    template = "web/account.html#tokens" if is_htmx(request) else "web/account.html"
    return render(request, template, context, status=status)


@member_page
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "web/account.html", _account_context(request))


@never_cache
@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    """Create a token and show its secret this once, in this response only.

    The secret is rendered, never redirected through the session or messages, so it is
    not stored anywhere; never_cache keeps it out of the browser's cache too.
    """
    context = _account_context(request)
    name = request.POST.get("name", "")
    try:
        token, secret = create_token(
            user=signed_in_user(request),
            name=name,
            expires_in_days=parse_id(request.POST.get("expires_in_days", "")),
        )
    except ValidationError as error:
        context["token_errors"] = error.message_dict.get("name", error.messages)
        context["token_name"] = name
        return _render_tokens(request, context, status=400)
    context["new_token"] = token
    context["new_secret"] = secret
    return _render_tokens(request, context, status=201)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of the user's own tokens; someone else's token id is simply not found."""
    if revoke_token(user=signed_in_user(request), token_id=token_id):
        note = "Token revoked. Clients using it are refused from now on."
    else:
        note = "That token was already revoked or does not exist."
    if is_htmx(request):
        context = _account_context(request)
        context["token_note"] = note
        return _render_tokens(request, context)
    messages.success(request, note)
    return HttpResponseRedirect(reverse("account"))


class PasswordChange(auth_views.PasswordChangeView):
    """Django's password change with the old password throttled like a sign-in, and an
    offer (ticked by default) to revoke the user's API tokens with the old password."""

    form_class = GuardedPasswordChangeForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form: GuardedPasswordChangeForm) -> HttpResponse:  # type: ignore[override]
        response = super().form_valid(form)
        if form.cleaned_data.get("revoke_tokens"):
            revoked = revoke_all_tokens(user=form.user)
            if revoked:
                messages.success(request=self.request, message=f"{revoked} API token(s) revoked.")
        return response
