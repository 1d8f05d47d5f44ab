"""The Sites page (managers): create, rename, re-code, archive and restore the places
evaluations are made at. Writes go through touchpoints.services, like the API's /sites/;
the evaluation form offers the active sites and every site breakdown reads them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.access import signed_in_user
from accounts.models import Membership, User
from touchpoints import services
from touchpoints.models import Site
from web.context import acting_in, form_errors, member_object, require_membership
from web.views import member_page


def _as_manager(membership: Membership) -> None:
    if not membership.can_edit_structure:
        raise PermissionDenied("Only managers change the sites.")


def _site(request: HttpRequest, site_id: int) -> Site:
    site = member_object(request, Site.objects.all(), site_id, "site")
    _as_manager(acting_in(request, site.organization_id))
    return cast(Site, site)


def _page(request: HttpRequest, membership: Membership, **extra: Any) -> dict[str, Any]:
    sites = Site.objects.for_organization(membership.organization_id)
    return {
        "nav": "sites",
        "organization": membership.organization,
        "active": sites.filter(archived_at__isnull=True),
        "archived": sites.filter(archived_at__isnull=False),
        "new": {"name": "", "code": "", "errors": {}},
        **extra,
    }


@member_page
def sites(request: HttpRequest) -> HttpResponse:
    membership = require_membership(request)
    _as_manager(membership)
    return render(request, "web/sites.html", _page(request, membership))


@never_cache
@login_required
@require_POST
def site_create(request: HttpRequest) -> HttpResponse:
    membership = require_membership(request)
    _as_manager(membership)
    name, code = request.POST.get("name", ""), request.POST.get("code", "")
    try:
        site = services.create_site(
            actor=signed_in_user(request),
            organization=membership.organization,
            name=name,
            code=code,
        )
    except ValidationError as error:
        new = {"name": name, "code": code, "errors": form_errors(error)}
        return render(request, "web/sites.html", _page(request, membership, new=new), status=400)
    messages.success(request, f"Site {site.name} added.")
    return HttpResponseRedirect(reverse("sites"))


def _change(
    request: HttpRequest, site_id: int, change: Callable[[User, Site], object], done: str
) -> HttpResponse:
    """Apply one change to a site (as the signed-in manager) and go back to the page, with
    `done` ({name}: the site's) or the refusal as its message."""
    site = _site(request, site_id)
    try:
        change(signed_in_user(request), site)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, done.format(name=site.name))
    return HttpResponseRedirect(reverse("sites"))


@never_cache
@login_required
@require_POST
def site_update(request: HttpRequest, site_id: int) -> HttpResponse:
    data = {"name": request.POST.get("name", ""), "code": request.POST.get("code", "")}
    return _change(
        request,
        site_id,
        lambda actor, site: services.update_site(actor=actor, site=site, data=data),
        "Site saved.",
    )


@never_cache
@login_required
@require_POST
def site_archive(request: HttpRequest, site_id: int) -> HttpResponse:
    return _change(
        request,
        site_id,
        lambda actor, site: services.archive_site(actor=actor, site=site),
        "Site {name} archived: it leaves the evaluation form; its evaluations stay.",
    )


@never_cache
@login_required
@require_POST
def site_restore(request: HttpRequest, site_id: int) -> HttpResponse:
    return _change(
        request,
        site_id,
        lambda actor, site: services.restore_site(actor=actor, site=site),
        "Site {name} restored.",
    )
