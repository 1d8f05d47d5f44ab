"""Browser pages of the alerts app: the feed, notification settings, actions on a touch
point, and the webhooks page for managers. Same walls as every page (web.views): objects
of another organization are 404, writes check the role in the service."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import signed_in_user
from accounts.models import Role
from alerts import delivery, selectors, services
from alerts.models import (
    Action,
    EmailMode,
    NotificationSetting,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from journeys.models import Journey, JourneyStatus
from web.context import acting_in, member_object, require_membership, touch_point_for_member
from web.views import member_page

FEED_PER_PAGE = 30
DELIVERIES_PER_PAGE = 30


def _write(view: Any) -> Any:
    return never_cache(login_required(require_POST(view)))


# --- Feed --------------------------------------------------------------------------------------


@member_page
def feed(request: HttpRequest) -> HttpResponse:
    membership = require_membership(request)
    page = Paginator(
        selectors.feed(membership.user_id, membership.organization_id), FEED_PER_PAGE
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "web/alerts/feed.html",
        {"nav": "feed", "membership": membership, "page": page},
    )


@_write
def feed_read(request: HttpRequest) -> HttpResponse:
    """Mark one entry (``notification``) or every entry read."""
    membership = require_membership(request)
    raw = request.POST.get("notification", "")
    ids = [int(raw)] if raw.isascii() and raw.isdecimal() and 0 < len(raw) < 19 else None
    services.mark_read(
        user=signed_in_user(request),
        organization_id=membership.organization_id,
        notification_ids=ids,
    )
    return HttpResponseRedirect(reverse("alerts-feed"))


# --- Notification settings ------------------------------------------------------------------------


def _settings_rows(membership: Any) -> list[dict[str, Any]]:
    journeys = list(
        Journey.objects.for_organization(membership.organization_id)
        .exclude(status=JourneyStatus.ARCHIVED)
        .order_by("name", "id")
    )
    chosen = dict(
        NotificationSetting.objects.filter(membership=membership).values_list("journey_id", "mode")
    )
    default = "manager default" if membership.role == Role.MANAGER else "none"
    return [{"journey": j, "mode": chosen.get(j.pk, ""), "default": default} for j in journeys]


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def notification_settings(request: HttpRequest) -> HttpResponse:
    membership = require_membership(request)
    errors: list[str] = []
    if request.method == "POST":
        journeys = {j.pk: j for j in Journey.objects.for_organization(membership.organization_id)}
        for key, value in request.POST.items():
            if not key.startswith("journey-"):
                continue
            raw = key.removeprefix("journey-")
            journey = (
                journeys.get(int(raw))
                if raw.isascii() and raw.isdecimal() and len(raw) < 19
                else None
            )
            if journey is None:
                continue
            if value == "":
                NotificationSetting.objects.filter(membership=membership, journey=journey).delete()
                continue
            try:
                services.set_notification_mode(
                    actor=signed_in_user(request),
                    membership=membership,
                    journey=journey,
                    mode=value,
                )
            except ValidationError as error:
                errors += error.messages
        if not errors:
            messages.success(request, "Notification settings saved.")
            return HttpResponseRedirect(reverse("alerts-settings"))
    return render(
        request,
        "web/alerts/settings.html",
        {
            "nav": "feed",
            "membership": membership,
            "rows": _settings_rows(membership),
            "modes": EmailMode.choices,
            "errors": errors,
            "digest": services.alert_settings(membership.organization_id),
        },
        status=400 if errors else 200,
    )


# --- Actions -----------------------------------------------------------------------------------


@_write
def action_open(request: HttpRequest, touch_point_id: int) -> HttpResponse:
    touch_point, _ = touch_point_for_member(request, touch_point_id)
    raw_owner = request.POST.get("owner", "")
    owner_id: Any = (
        int(raw_owner)
        if raw_owner.isascii() and raw_owner.isdecimal() and len(raw_owner) < 19
        else None
    )
    raw_due = request.POST.get("due", "")
    due: Any = None
    if raw_due:
        try:
            due = date.fromisoformat(raw_due)
        except ValueError:
            due = raw_due  # the service names the field
    try:
        services.open_action(
            actor=signed_in_user(request),
            touch_point=touch_point,
            description=request.POST.get("description", ""),
            owner_id=owner_id,
            due=due,
        )
    except ValidationError as error:
        for field, msgs in error.message_dict.items():
            for msg in msgs:
                messages.error(request, f"{field.replace('_', ' ').capitalize()}: {msg}")
    else:
        messages.success(request, "Action opened. Its baseline is the score shown above.")
    return HttpResponseRedirect(reverse("touch-point", args=[touch_point.pk]) + "#actions")


@_write
def action_done(request: HttpRequest, action_id: int) -> HttpResponse:
    action = member_object(
        request, Action.objects.select_related("touch_point"), action_id, "action"
    )
    acting_in(request, action.organization_id)
    try:
        services.mark_action_done(actor=signed_in_user(request), action=action)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        services.judge_action(action.pk)
        messages.success(request, "Marked done. Evaluations observed from now on are its evidence.")
    return HttpResponseRedirect(reverse("touch-point", args=[action.touch_point_id]) + "#actions")


# --- Webhooks (managers) -----------------------------------------------------------------------


def _manager(request: HttpRequest) -> Any:
    membership = require_membership(request)
    if membership.role != Role.MANAGER:
        raise PermissionDenied("Only managers manage webhooks.")
    return membership


def _endpoint_for(request: HttpRequest, endpoint_id: int) -> WebhookEndpoint:
    endpoint = member_object(
        request, WebhookEndpoint.objects.select_related("organization"), endpoint_id, "endpoint"
    )
    membership = acting_in(request, endpoint.organization_id)
    if membership.role != Role.MANAGER:
        raise PermissionDenied("Only managers manage webhooks.")
    return endpoint  # type: ignore[no-any-return]


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def webhooks_page(request: HttpRequest) -> HttpResponse:
    membership = _manager(request)
    context: dict[str, Any] = {
        "nav": "webhooks",
        "membership": membership,
        "event_types": delivery.EVENT_TYPES,
    }
    status = 200
    if request.method == "POST":
        data = {
            "url": request.POST.get("url", ""),
            "description": request.POST.get("description", ""),
            "event_types": request.POST.getlist("event_types"),
        }
        try:
            endpoint, secret = delivery.register_endpoint(
                actor=signed_in_user(request),
                organization=membership.organization,
                data=data,
            )
        except ValidationError as error:
            context["errors"] = error.message_dict
            context["form_errors"] = error.message_dict.get("__all__", [])
            context["form"] = data
            status = 400
        else:
            context["new_endpoint"] = endpoint
            context["new_secret"] = secret
            status = 201
    context["endpoints"] = WebhookEndpoint.objects.for_organization(membership.organization_id)
    return render(request, "web/alerts/webhooks.html", context, status=status)


@member_page
def webhook_detail(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint_for(request, endpoint_id)
    page = Paginator(
        WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-created_at", "-id"),
        DELIVERIES_PER_PAGE,
    ).get_page(request.GET.get("page"))
    attempts: dict[int, list[WebhookAttempt]] = {}
    for attempt in WebhookAttempt.objects.filter(delivery__in=list(page.object_list)):
        attempts.setdefault(attempt.delivery_id, []).append(attempt)
    rows = [{"delivery": d, "attempts": attempts.get(d.pk, [])} for d in page.object_list]
    return render(
        request,
        "web/alerts/webhook_detail.html",
        {"nav": "webhooks", "endpoint": endpoint, "page": page, "rows": rows},
    )


@_write
def webhook_test(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint_for(request, endpoint_id)
    delivery.send_test(actor=signed_in_user(request), endpoint=endpoint)
    messages.success(request, "Test event queued; its attempt appears below.")
    return HttpResponseRedirect(reverse("alerts-webhook", args=[endpoint.pk]))


@_write
def webhook_toggle(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint_for(request, endpoint_id)
    delivery.update_endpoint(
        actor=signed_in_user(request),
        endpoint=endpoint,
        data={"enabled": not endpoint.enabled},
    )
    return HttpResponseRedirect(reverse("alerts-webhook", args=[endpoint.pk]))


@_write
def webhook_delete(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint_for(request, endpoint_id)
    delivery.delete_endpoint(actor=signed_in_user(request), endpoint=endpoint)
    messages.success(request, "Endpoint removed.")
    return HttpResponseRedirect(reverse("alerts-webhooks"))


@_write
def webhook_redeliver(request: HttpRequest, delivery_id: int) -> HttpResponse:
    found = member_object(request, WebhookDelivery.objects.all(), delivery_id, "delivery")
    endpoint = _endpoint_for(request, found.endpoint_id)
    delivery.redeliver(actor=signed_in_user(request), delivery=found)
    messages.success(request, "Queued again with the same webhook-id.")
    return HttpResponseRedirect(reverse("alerts-webhook", args=[endpoint.pk]))
