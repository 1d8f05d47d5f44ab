"""Live pages for every role: one cheap "has this journey changed?" check that an open map
or touch point page asks every few seconds.

The answer is a fingerprint of everything those pages show, read in ONE query together
with the tenancy check (a membership of the journey's organization): the journey's snapshot time (a recompute landed), its newest stale
mark (evaluations arrived) and the organization's newest audit event (someone edited the
structure). The page sends the fingerprint it holds as If-None-Match; the same one is a
304 with no body; a new one answers the new fingerprint with an HX-Trigger that refreshes
the page's figures (web/static/js/app.js holds the refresh while a manager is editing).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.access import signed_in_user
from accounts.models import AuditEvent, Membership
from journeys.models import Journey
from scoring.models import JourneyScore, StaleMark

#: How often an open page asks (seconds): 50 open pages cost 10 tiny requests a second.
LIVE_SECONDS = 5


def fingerprints(journeys: list[int], *, user_id: int) -> dict[int, str]:
    """Journey id -> its fingerprint, for those of `journeys` in an organization the user
    belongs to (the tenancy check is part of the same query): one query."""
    rows = (
        Journey.objects.filter(pk__in=journeys)
        .filter(
            Exists(
                Membership.objects.filter(
                    user_id=user_id, organization_id=OuterRef("organization_id")
                )
            )
        )
        .annotate(
            computed=Subquery(
                JourneyScore.objects.filter(journey_id=OuterRef("pk")).values("computed_at")[:1]
            ),
            stale=Subquery(
                StaleMark.objects.filter(touch_point__journey_id=OuterRef("pk"))
                .order_by("-id")
                .values("id")[:1]
            ),
            edited=Subquery(
                AuditEvent.objects.filter(organization_id=OuterRef("organization_id"))
                .order_by("-id")
                .values("id")[:1]
            ),
        )
        .values_list("pk", "computed", "stale", "edited")
    )
    return {
        pk: f"{computed.timestamp() if computed else 0:.6f}-{stale or 0}-{edited or 0}"
        for pk, computed, stale, edited in rows
    }


def live_context(journey: Journey, user_id: int) -> dict[str, Any]:
    """What a page needs to draw its watcher: the fingerprint of what it shows now."""
    return {
        "journey_id": journey.pk,
        "live_version": fingerprints([journey.pk], user_id=user_id)[journey.pk],
        "live_seconds": LIVE_SECONDS,
    }


@never_cache  # the page's own If-None-Match is the cache; the browser must not keep one
@login_required
@require_GET
def journey_changed(request: HttpRequest, journey_id: int) -> HttpResponse:
    """304 while the journey is as the page has it; else the watcher with the new
    fingerprint (ETag) and HX-Trigger: touchstone:scored. Another organization's journey,
    or none, is a 404 like everywhere."""
    current = fingerprints([journey_id], user_id=signed_in_user(request).pk).get(journey_id)
    if current is None:
        raise Http404("No such journey.")
    etag = f'"{current}"'
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        context = {"journey_id": journey_id, "live_version": current, "live_seconds": LIVE_SECONDS}
        response = render(request, "web/_live.html", context)
        if "If-None-Match" in request.headers:
            response["HX-Trigger"] = "touchstone:scored"
    response["ETag"] = etag
    return response
