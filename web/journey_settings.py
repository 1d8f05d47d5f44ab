"""Journey settings in the browser (managers): name, persona, description, default target
and status, through journeys.services.update_journey like the API's PATCH.

Two managers editing at once: the form carries the version it was drawn from (the
journey's updated_at, to the microsecond). Saving locks the journey and compares; if
someone saved in between, nothing is written and the page answers 409 with their values
beside the ones typed here, as the API's If-Match answers 412.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.access import signed_in_user
from journeys import services as journey_services
from journeys.models import Journey, JourneyStatus
from web.context import form_errors, journey_for_member

FIELDS = ("name", "persona", "description", "target", "status")


def version_of(journey: Journey) -> str:
    return journey.updated_at.isoformat()


def _typed(post: Any) -> dict[str, Any]:
    data: dict[str, Any] = {field: post.get(field, "") for field in FIELDS}
    # Not a number: left as typed, for the service to refuse with its own message.
    with contextlib.suppress(TypeError, ValueError):
        data["target"] = float(data["target"])
    return data


@never_cache
@login_required
@require_http_methods(["GET", "POST", "HEAD"])
def journey_settings(request: HttpRequest, journey_id: int) -> HttpResponse:
    journey, membership = journey_for_member(request, journey_id)
    if not membership.can_edit_structure:
        raise PermissionDenied("Only managers change a journey's settings.")
    context: dict[str, Any] = {
        "journey": journey,
        "statuses": JourneyStatus.choices,
        "values": {f: getattr(journey, f) for f in FIELDS},
        "version": version_of(journey),
        "errors": {},
        "conflict": None,
    }
    if request.method != "POST":
        return render(request, "web/journey_settings.html", context)
    typed = _typed(request.POST)
    context["values"] = typed
    with transaction.atomic():
        current = Journey.objects.select_for_update().get(pk=journey.pk)
        if request.POST.get("version") != version_of(current):
            context["conflict"] = {f: getattr(current, f) for f in FIELDS}
            context["version"] = version_of(current)
            return render(request, "web/journey_settings.html", context, status=409)
        try:
            journey_services.update_journey(
                actor=signed_in_user(request), journey=current, data=typed
            )
        except ValidationError as error:
            context["errors"] = form_errors(error)
            return render(request, "web/journey_settings.html", context, status=400)
    messages.success(request, f"Settings of {current.name} saved.")
    return HttpResponseRedirect(reverse("journey-map", args=[journey.pk]))
