"""Manager pages for customer feedback: what a touch point asks, its links, their posters.

Lookups are scoped to the user's organizations (another organization's touch point or
link is a 404, like a missing one); the role is checked after the lookup, so evaluators
and viewers get a 403 and nothing changes. Every change goes through feedback.services,
the same functions the API calls.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import membership_for, signed_in_user
from accounts.models import Membership
from feedback import qr, selectors, services
from feedback.models import MAX_QUESTIONS, FeedbackLink, Language
from touchpoints.models import Site, TouchPoint

View = Callable[..., HttpResponse]


def _membership(request: HttpRequest, organization_id: int) -> Membership:
    """The user's membership in the object's organization; none makes the object a 404."""
    membership = membership_for(signed_in_user(request), organization_id)
    if membership is None:
        raise Http404
    return membership


def _touch_point(request: HttpRequest, touch_point_id: int) -> tuple[TouchPoint, Membership]:
    touch_point = (
        TouchPoint.objects.select_related("journey", "stage").filter(pk=touch_point_id).first()
    )
    if touch_point is None:
        raise Http404("No such touch point.")
    return touch_point, _membership(request, touch_point.organization_id)


def _manager(membership: Membership) -> None:
    if not membership.can_edit_structure:
        raise PermissionDenied("Only managers set up customer feedback.")


def _link(request: HttpRequest, link_id: int) -> tuple[FeedbackLink, Membership]:
    link = (
        FeedbackLink.objects.select_related("touch_point__journey", "site", "organization")
        .filter(pk=link_id)
        .first()
    )
    if link is None:
        raise Http404("No such link.")
    membership = _membership(request, link.organization_id)
    _manager(membership)
    return link, membership


def public_url(request: HttpRequest, link: FeedbackLink) -> str:
    return request.build_absolute_uri(reverse("feedback-answer", args=[link.token]))


def _setup_context(
    request: HttpRequest, touch_point: TouchPoint, membership: Membership, **extra: Any
) -> dict[str, Any]:
    summary = selectors.touch_point_feedback(touch_point)
    asked = {q.criterion_id: q.text for q in summary.questions}
    return {
        "touch_point": touch_point,
        "journey": touch_point.journey,
        "membership": membership,
        "summary": summary,
        "criteria": [
            {"criterion": c, "asked": c.pk in asked, "text": asked.get(c.pk, "")}
            for c in services.askable_criteria(touch_point)
        ],
        "max_questions": MAX_QUESTIONS,
        "sites": Site.objects.for_organization(touch_point.organization_id).filter(
            archived_at__isnull=True
        ),
        "languages": Language.choices,
        "links": [{"row": row, "url": public_url(request, row.link)} for row in summary.links],
        **extra,
    }


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest, touch_point_id: int) -> HttpResponse:
    """The set-up page: which criteria customers answer, with which words, and the links."""
    touch_point, membership = _touch_point(request, touch_point_id)
    _manager(membership)
    if request.method == "GET":
        return render(
            request, "feedback/setup.html", _setup_context(request, touch_point, membership)
        )
    chosen = request.POST.getlist("ask")
    questions = [
        services.QuestionInput(criterion_id=_form_id(raw), text=request.POST.get(f"text_{raw}", ""))
        for raw in chosen
    ]
    try:
        services.save_questions(
            actor=signed_in_user(request),
            touch_point=touch_point,
            questions=questions,
            ask_comment=request.POST.get("ask_comment") == "on",
        )
    except ValidationError as error:
        context = _setup_context(request, touch_point, membership, question_errors=error.messages)
        # Keep what was typed, so nothing is lost to a refusal.
        for item in context["criteria"]:
            pk = str(item["criterion"].pk)
            item["asked"] = pk in chosen
            item["text"] = request.POST.get(f"text_{pk}", item["text"])
        return render(request, "feedback/setup.html", context, status=400)
    messages.success(request, "Saved. Customers see these questions from now on.")
    return HttpResponseRedirect(reverse("feedback-setup", args=[touch_point.pk]))


def _form_id(raw: str) -> int | None:
    """An id from a form field: None when empty, 0 (no such row) when not a whole number."""
    if raw == "":
        return None
    return int(raw) if raw.isascii() and raw.isdecimal() and len(raw) < 19 else 0


def _expiry(raw: str) -> datetime | None:
    """A date from the form: the link stops taking answers when that day ends (UTC)."""
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValidationError({"expires_at": ["Give the expiry as a date."]}) from None
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


@never_cache
@login_required
@require_POST
def link_create(request: HttpRequest, touch_point_id: int) -> HttpResponse:
    touch_point, membership = _touch_point(request, touch_point_id)
    _manager(membership)
    site_raw = request.POST.get("site", "")
    try:
        link = services.create_link(
            actor=signed_in_user(request),
            touch_point=touch_point,
            label=request.POST.get("label", ""),
            site_id=_form_id(site_raw),
            language=request.POST.get("language", ""),
            expires_at=_expiry(request.POST.get("expires_on", "")),
        )
    except ValidationError as error:
        context = _setup_context(
            request,
            touch_point,
            membership,
            link_errors=error.messages,
            link_form=request.POST,
        )
        return render(request, "feedback/setup.html", context, status=400)
    messages.success(request, f"Link created. Print its poster: {link.label or 'the new link'}.")
    return HttpResponseRedirect(reverse("feedback-setup", args=[touch_point.pk]) + "#links")


@never_cache
@login_required
@require_POST
def link_revoke(request: HttpRequest, link_id: int) -> HttpResponse:
    link, _ = _link(request, link_id)
    services.revoke_link(actor=signed_in_user(request), link=link)
    messages.success(request, "Link revoked: it takes no more answers.")
    return HttpResponseRedirect(reverse("feedback-setup", args=[link.touch_point_id]) + "#links")


@never_cache
@login_required
@require_GET
def poster(request: HttpRequest, link_id: int) -> HttpResponse:
    """A printable poster: the touch point, one line of invitation, the QR code, the URL."""
    link, membership = _link(request, link_id)
    url = public_url(request, link)
    size = "a6" if request.GET.get("size") == "a6" else "a4"
    return render(
        request,
        "feedback/poster.html",
        {
            "link": link,
            "membership": membership,
            "touch_point": link.touch_point,
            "url": url,
            "short_url": url.split("://", 1)[-1],
            "qr_svg": qr.svg(url),
            "size": size,
        },
    )
