"""The Team page (managers): members, invitations, roles and removal; and the page an
invited person opens from their email.

Writes go through team.services, the same functions the API calls. Members and
invitations are looked up among the user's organizations only, so another organization's
id is a 404 like a missing one; the role is checked after the lookup (403 for evaluators
and viewers, nothing changed).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import signed_in_user
from accounts.models import Membership, Role, User
from notify.selectors import failed_emails
from team import selectors, services
from team.models import Invitation
from web.context import (
    SESSION_KEY,
    acting_in,
    form_errors,
    organization_ids,
    require_membership,
)
from web.views import member_page

FORM_ERROR_STATUS = 400


def team_action(view: Any) -> Any:
    return never_cache(login_required(require_POST(view)))


def _as_manager(request: HttpRequest, organization_id: int) -> Membership:
    membership = acting_in(request, organization_id)
    if not membership.can_edit_structure:
        raise PermissionDenied("Only managers see and change the team.")
    return membership


def _member(request: HttpRequest, membership_id: int) -> Membership:
    found: Membership | None = (
        Membership.objects.filter(organization_id__in=organization_ids(request), pk=membership_id)
        .select_related("user", "organization")
        .first()
    )
    if found is None:
        raise Http404("No such member.")
    _as_manager(request, found.organization_id)
    return found


def _invitation(request: HttpRequest, invitation_id: int) -> Invitation:
    found: Invitation | None = (
        Invitation.objects.for_organizations(organization_ids(request))
        .filter(pk=invitation_id)
        .select_related("organization")
        .first()
    )
    if found is None:
        raise Http404("No such invitation.")
    _as_manager(request, found.organization_id)
    return found


def _page(request: HttpRequest, membership: Membership, **extra: Any) -> dict[str, Any]:
    organization = membership.organization
    return {
        "nav": "team",
        "membership": membership,
        "organization": organization,
        "members": selectors.members(organization),
        "invitations": selectors.open_invitations(organization),
        "failed_emails": failed_emails(organization),
        "roles": Role.choices,
        "invitation_days": settings.INVITATION_DAYS,
        "invite": {"email": "", "role": Role.EVALUATOR.value, "errors": {}},
        **extra,
    }


def _refused(error: ValidationError) -> str:
    return " ".join(error.messages)


@member_page
def team(request: HttpRequest) -> HttpResponse:
    membership = require_membership(request)
    _as_manager(request, membership.organization_id)
    return render(request, "web/team.html", _page(request, membership))


@team_action
def invite(request: HttpRequest) -> HttpResponse:
    membership = require_membership(request)
    _as_manager(request, membership.organization_id)
    email, role = request.POST.get("email", ""), request.POST.get("role", "")
    try:
        invitation = services.invite(
            actor=signed_in_user(request),
            organization=membership.organization,
            email=email,
            role=role,
            link_base=services.link_base(request),
        )
    except ValidationError as error:
        form = {"email": email, "role": role, "errors": form_errors(error)}
        return render(
            request,
            "web/team.html",
            _page(request, membership, invite=form),
            status=FORM_ERROR_STATUS,
        )
    messages.success(request, f"Invitation sent to {invitation.email}.")
    return HttpResponseRedirect(reverse("team"))


@team_action
def invitation_resend(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = _invitation(request, invitation_id)
    try:
        services.resend_invitation(
            actor=signed_in_user(request),
            invitation=invitation,
            link_base=services.link_base(request),
        )
    except ValidationError as error:
        messages.error(request, _refused(error))
    else:
        messages.success(
            request, f"A new link was sent to {invitation.email}; older links no longer work."
        )
    return HttpResponseRedirect(reverse("team"))


@team_action
def invitation_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = _invitation(request, invitation_id)
    try:
        services.revoke_invitation(actor=signed_in_user(request), invitation=invitation)
    except ValidationError as error:
        messages.error(request, _refused(error))
    else:
        messages.success(request, f"The invitation to {invitation.email} was withdrawn.")
    return HttpResponseRedirect(reverse("team"))


@team_action
def member_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    member = _member(request, membership_id)
    try:
        changed = services.change_role(
            actor=signed_in_user(request), membership=member, role=request.POST.get("role", "")
        )
    except ValidationError as error:
        messages.error(request, _refused(error))
    else:
        messages.success(request, f"{changed.user} is now {changed.get_role_display().lower()}.")
    return HttpResponseRedirect(reverse("team"))


@never_cache
@login_required
@require_http_methods(["GET", "POST", "HEAD"])
def member_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    """GET asks for confirmation; POST removes."""
    member = _member(request, membership_id)
    if request.method == "POST":
        try:
            services.remove_member(actor=signed_in_user(request), membership=member)
        except ValidationError as error:
            messages.error(request, _refused(error))
        else:
            messages.success(request, f"{member.user} was removed from {member.organization.name}.")
        return HttpResponseRedirect(reverse("team"))
    return render(request, "web/team_remove.html", {"nav": "team", "member": member})


# --- Accepting an invitation ---------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST", "HEAD"])
def join(request: HttpRequest, token: str) -> HttpResponse:
    """The page behind the emailed link: a new person sets name and password; a person
    with an account signs in with their password (or, already signed in as the invited
    address, just confirms). Any other account is refused: the link is not theirs."""
    try:
        invitation = services.invitation_for_link(token)
    except services.InvalidLinkError as invalid:
        return render(
            request, "web/team_join_invalid.html", {"reason": invalid.reason}, status=invalid.status
        )
    user = request.user
    existing = User.objects.filter(email=invitation.email).first()
    mode = "confirm" if user.is_authenticated else ("password" if existing else "new")
    context: dict[str, Any] = {"invitation": invitation, "mode": mode, "errors": {}, "name": ""}
    if user.is_authenticated and user.email.lower() != invitation.email:
        context["mode"] = "foreign"
        return render(request, "web/team_join.html", context, status=403)
    if request.method != "POST":
        return render(request, "web/team_join.html", context)
    try:
        if mode == "new":
            context["name"] = request.POST.get("name", "")
            if request.POST.get("password1", "") != request.POST.get("password2", ""):
                raise ValidationError({"password2": ["The two passwords differ."]})
            joined = services.accept_as_new_user(
                invitation=invitation,
                name=context["name"],
                password=request.POST.get("password1", ""),
            )
        elif mode == "password":
            authenticated = authenticate(
                request, username=invitation.email, password=request.POST.get("password", "")
            )
            if authenticated is None:
                raise ValidationError(
                    {"password": ["That password is not right for this account."]}
                )
            joined = authenticated
            services.accept_as_existing_user(invitation=invitation, user=joined)
        else:
            joined = signed_in_user(request)  # mode "confirm": the user is signed in
            services.accept_as_existing_user(invitation=invitation, user=joined)
    except ValidationError as error:
        context["errors"] = form_errors(error)
        return render(request, "web/team_join.html", context, status=FORM_ERROR_STATUS)
    if not user.is_authenticated:
        login(request, joined, backend="accounts.backends.EmailBackend")
    request.session[SESSION_KEY] = invitation.organization_id
    messages.success(request, f"Welcome to {invitation.organization.name}.")
    return HttpResponseRedirect(reverse("overview"))
