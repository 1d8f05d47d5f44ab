"""The organization's settings page (managers): name, the target new journeys start with,
the scoring method's settings and the daily digest's time, through
alerts.organization.update_organization_settings like `/api/v1/organization/`.

After a save the page says how many touch points changed status and which, computed with
the old and the new settings from the same evaluations (the map follows once the workers
have rescored). Two managers editing at once: the form carries the version it was drawn
from; a save naming an older one stores nothing and answers 409 with the values now saved
beside the ones typed, as the journey settings page does.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.access import signed_in_user
from accounts.models import MIN_N_MAX, SMOOTHING_K_MAX, WINDOW_DAYS_MAX
from alerts import organization as settings_service
from web.context import form_errors, require_membership
from web.forms_editor import number, whole_number

#: Where the last save's outcome waits for the page the browser is sent back to.
RESULT_KEY = "touchstone_organization_settings_result"
#: Touch points listed by name after a save; the sentence above the list counts them all.
LISTED_CHANGES = 50


def _typed(post: Any) -> dict[str, Any]:
    """The form's text as the service takes it; what is not a number stays text, for the
    service to refuse with its own message."""
    return {
        "name": post.get("name", ""),
        "default_target": number(post.get("default_target", "")),
        "min_n": whole_number(post.get("min_n", "")),
        "smoothing_k": number(post.get("smoothing_k", "")),
        "window_days": whole_number(post.get("window_days", "")),
        "digest_time": post.get("digest_time", ""),
    }


def _context(request: HttpRequest, values: dict[str, Any], **extra: Any) -> dict[str, Any]:
    membership = require_membership(request)
    return {
        "nav": "settings",
        "organization": membership.organization,
        "values": values,
        "version": settings_service.version_of(values),
        "errors": {},
        "conflict": None,
        "bounds": {
            "k_max": f"{SMOOTHING_K_MAX:g}",
            "min_n_max": MIN_N_MAX,
            "window_max": WINDOW_DAYS_MAX,
        },
        **extra,
    }


@never_cache
@login_required
@require_http_methods(["GET", "POST", "HEAD"])
def organization_settings(request: HttpRequest) -> HttpResponse:
    membership = require_membership(request)
    if not membership.can_edit_structure:
        raise PermissionDenied("Only managers change the organization's settings.")
    organization = membership.organization
    saved_values = settings_service.current_settings(organization.pk)
    if request.method != "POST":
        result = request.session.pop(RESULT_KEY, None)
        return render(
            request,
            "web/organization_settings.html",
            _context(request, saved_values, result=result),
        )
    typed = _typed(request.POST)
    try:
        saved = settings_service.update_organization_settings(
            actor=signed_in_user(request),
            organization=organization,
            data=typed,
            version=request.POST.get("version", ""),
        )
    except settings_service.SettingsChangedError as stale:
        context = _context(request, stale.current, conflict=stale.current)
        context["values"] = typed  # what this manager typed, their colleague's below it
        return render(request, "web/organization_settings.html", context, status=409)
    except ValidationError as error:
        context = _context(request, saved_values, errors=form_errors(error))
        context["values"] = typed
        return render(request, "web/organization_settings.html", context, status=400)
    summary = settings_service.describe(saved.changes)
    request.session[RESULT_KEY] = {
        "summary": summary,
        "changes": [asdict(c) for c in saved.changes[:LISTED_CHANGES]],
        "unlisted": max(0, len(saved.changes) - LISTED_CHANGES),
    }
    messages.success(request, "Settings saved.")
    return HttpResponseRedirect(reverse("organization-settings"))
