"""Browser pages: short function views that parse, authorize, read through selectors, render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from web.context import choose_organization as choose
from web.context import require_membership


def _safe_next(request: HttpRequest, fallback: str) -> str:
    """The `next` parameter if it points back into this site, else `fallback`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    membership = require_membership(request)
    return render(request, "web/overview.html", {"membership": membership, "nav": "overview"})


@login_required
@require_POST
def choose_organization(request: HttpRequest) -> HttpResponse:
    """Switch the acting organization (kept in the session) and go back where the user was."""
    try:
        organization_id = int(request.POST.get("organization", ""))
    except ValueError:
        organization_id = 0
    choose(request, organization_id)
    return HttpResponseRedirect(_safe_next(request, reverse("overview")))


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "web/account.html", {"nav": "account"})
