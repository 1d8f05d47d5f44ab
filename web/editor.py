"""The structure editor: managers change journeys in place, one request per change.

Every change goes through the same service as the API (journeys.services,
touchpoints.services), so the browser refuses exactly what the API refuses, with the same
messages, shown beside the field. Lookups are scoped to the user's organizations (another
organization's id is a 404, like a missing one); the role is checked after the lookup, so
evaluators and viewers get a 403 and nothing changes.

After a change the response re-renders what changed from the database (the whole map, or
the criteria editor), never the order the browser believed in: two managers editing at
once each see the fresh order after their own change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import Resolver404, resolve, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import signed_in_user
from accounts.models import Membership
from journeys import services as journey_services
from journeys.models import Journey, Stage
from touchpoints import services as tp_services
from touchpoints.models import Channel, Criterion, CriterionKind, TouchPoint
from web import forms_editor as forms
from web.context import (
    acting_in,
    is_htmx,
    journey_for_member,
    member_object,
    require_membership,
)
from web.filters import page_filters
from web.views import map_context

View = Callable[..., HttpResponse]
FORM_ERROR_STATUS = 400
# A move or archive the service refused: the fresh map comes back with the reason.
REFUSED_STATUS = 409


def editor_action(view: View) -> View:
    """A change: signed-in, POST only (CSRF-checked), never cached."""
    return never_cache(login_required(require_POST(view)))


def editor_read(view: View) -> View:
    """A form or list the editor loads on demand."""
    return never_cache(login_required(require_GET(view)))


def _as_manager(request: HttpRequest, organization_id: int) -> Membership:
    """The acting membership, which must be allowed to edit structure (else 403)."""
    membership = acting_in(request, organization_id)
    if not membership.can_edit_structure:
        raise PermissionDenied("Only managers change the structure of a journey.")
    return membership


def _journey(request: HttpRequest, journey_id: int) -> tuple[Journey, Membership]:
    journey, _ = journey_for_member(request, journey_id)
    return journey, _as_manager(request, journey.organization_id)


def _stage(request: HttpRequest, stage_id: int) -> tuple[Stage, Membership]:
    stage = member_object(
        request, Stage.objects.select_related("journey__organization"), stage_id, "stage"
    )
    return stage, _as_manager(request, stage.organization_id)


def _touch_point(request: HttpRequest, touch_point_id: int) -> tuple[TouchPoint, Membership]:
    touch_point = member_object(
        request,
        TouchPoint.objects.select_related("stage", "journey__organization"),
        touch_point_id,
        "touch point",
    )
    return touch_point, _as_manager(request, touch_point.organization_id)


def _criterion(request: HttpRequest, criterion_id: int) -> tuple[Criterion, Membership]:
    criterion = member_object(
        request,
        Criterion.objects.select_related("touch_point__journey", "current_version"),
        criterion_id,
        "criterion",
    )
    return criterion, _as_manager(request, criterion.organization_id)


# --- Responses -----------------------------------------------------------------------------


def _map(
    request: HttpRequest,
    journey: Journey,
    membership: Membership,
    *,
    message: str = "",
    status: int = 200,
    open_stage: int | None = None,
    open_touch_point: int | None = None,
) -> HttpResponse:
    """The fresh map for htmx to swap in; without JavaScript, back to the map page."""
    if not is_htmx(request):
        if message:
            (messages.error if status >= 400 else messages.success)(request, message)
        return HttpResponseRedirect(reverse("journey-map", args=[journey.pk]))
    context = map_context(journey, membership, page_filters(request, journey.organization))
    context.update(
        editor_message=message,
        editor_failed=status >= 400,
        editor_open_stage=open_stage,
        editor_open_touch_point=open_touch_point,
    )
    return render(request, "web/journey_map.html#map-body", context, status=status)


def _form(
    request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """A form alone (htmx swaps it where it was, errors beside the fields), or inside a
    page of its own when the browser runs no JavaScript."""
    if not is_htmx(request):
        context = {**context, "form_template": template}
        return render(request, "web/editor/form_page.html", context, status=status)
    response = render(request, template, context, status=status)
    if status >= 400 and context.get("form_id"):
        # The form asked for the map as its target; its errors go back into the form.
        response["HX-Retarget"] = f"#{context['form_id']}"
        response["HX-Reswap"] = "outerHTML"
    return response


def _refused(error: ValidationError) -> str:
    return " ".join(error.messages)


# --- Journeys ------------------------------------------------------------------------------


@editor_action
def journey_create(request: HttpRequest) -> HttpResponse:
    """A new journey in the acting organization; the browser goes on to its (empty) map."""
    membership = require_membership(request)
    if not membership.can_edit_structure:
        raise PermissionDenied("Only managers create journeys.")
    data = forms.journey_data(request.POST)
    try:
        journey = journey_services.create_journey(
            actor=signed_in_user(request), organization=membership.organization, **data
        )
    except ValidationError as error:
        context = {"form": forms.FormState.refused(request.POST, error), "form_id": "new-journey"}
        return _form(request, "web/editor/_journey_form.html", context, status=FORM_ERROR_STATUS)
    url = reverse("journey-map", args=[journey.pk])
    if is_htmx(request):
        response = HttpResponse(status=201)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


# --- Stages --------------------------------------------------------------------------------


@editor_action
def stage_create(request: HttpRequest, journey_id: int) -> HttpResponse:
    journey, membership = _journey(request, journey_id)
    try:
        journey_services.create_stage(
            actor=signed_in_user(request), journey=journey, **forms.stage_data(request.POST)
        )
    except ValidationError as error:
        context = {
            "journey": journey,
            "form": forms.FormState.refused(request.POST, error),
            "form_id": "add-stage",
        }
        return _form(request, "web/editor/_stage_add.html", context, status=FORM_ERROR_STATUS)
    return _map(request, journey, membership, message="Stage added.")


@editor_action
def stage_update(request: HttpRequest, stage_id: int) -> HttpResponse:
    stage, membership = _stage(request, stage_id)
    try:
        journey_services.update_stage(
            actor=signed_in_user(request), stage=stage, data=forms.stage_data(request.POST)
        )
    except ValidationError as error:
        context = {
            "stage": stage,
            "form": forms.FormState.refused(request.POST, error),
            "form_id": f"stage-{stage.pk}-rename",
        }
        return _form(request, "web/editor/_stage_rename.html", context, status=FORM_ERROR_STATUS)
    return _map(request, stage.journey, membership, message=f"Stage renamed to {stage.name}.")


def _stage_target(stage: Stage, direction: str | None, typed: int | str | None) -> int | str | None:
    """Where a keyboard move (earlier/later) goes, counted from the fresh order."""
    if direction is None:
        return typed
    stage.refresh_from_db(fields=["position", "archived_at"])
    if stage.position is None:
        return typed  # archived: the service says so
    return stage.position + (-1 if direction == "up" else 1)


@editor_action
def stage_move(request: HttpRequest, stage_id: int) -> HttpResponse:
    stage, membership = _stage(request, stage_id)
    target = _stage_target(stage, forms.move_direction(request.POST), forms.position(request.POST))
    try:
        journey_services.move_stage(actor=signed_in_user(request), stage=stage, position=target)  # type: ignore[arg-type]
    except ValidationError as error:
        return _map(
            request, stage.journey, membership, message=_refused(error), status=REFUSED_STATUS
        )
    stage.refresh_from_db(fields=["position"])
    return _map(
        request,
        stage.journey,
        membership,
        message=f"Stage {stage.name} is now stage {(stage.position or 0) + 1}.",
        open_stage=stage.pk if forms.move_direction(request.POST) else None,
    )


@editor_action
def stage_archive(request: HttpRequest, stage_id: int) -> HttpResponse:
    stage, membership = _stage(request, stage_id)
    journey_services.archive_stage(actor=signed_in_user(request), stage=stage)
    return _map(request, stage.journey, membership, message=f"Stage {stage.name} archived.")


@editor_action
def stage_restore(request: HttpRequest, stage_id: int) -> HttpResponse:
    stage, membership = _stage(request, stage_id)
    journey_services.restore_stage(actor=signed_in_user(request), stage=stage)
    return _map(request, stage.journey, membership, message=f"Stage {stage.name} restored.")


@editor_read
def archived(request: HttpRequest, journey_id: int) -> HttpResponse:
    """The map's Archived area: archived stages and touch points, each with Restore."""
    journey, _ = _journey(request, journey_id)
    context = {
        "journey": journey,
        "stages": Stage.objects.filter(journey_id=journey.pk, archived_at__isnull=False).order_by(
            "name", "id"
        ),
        "touch_points": TouchPoint.objects.filter(journey_id=journey.pk, archived_at__isnull=False)
        .select_related("stage")
        .order_by("stage__position", "name", "id"),
    }
    return _form(request, "web/editor/_archived.html", context)


# --- Touch points ----------------------------------------------------------------------------


def _touch_point_choices() -> dict[str, Any]:
    return {"channels": Channel.choices, "importances": range(1, 6)}


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def touch_point_create(request: HttpRequest, stage_id: int) -> HttpResponse:
    """GET: the empty form, loaded when "Add a touch point" opens. POST: add it."""
    stage, membership = _stage(request, stage_id)
    if request.method == "GET":
        form = forms.FormState({"channel": Channel.OTHER, "importance": 3})
        context = {"stage": stage, "form": form, **_touch_point_choices()}
        return _form(request, "web/editor/_touch_point_add_form.html", context)
    data = forms.touch_point_data(request.POST)
    try:
        touch_point = tp_services.create_touch_point(
            actor=signed_in_user(request), stage=stage, name=data.pop("name", ""), **data
        )
    except ValidationError as error:
        context = {
            "stage": stage,
            "form": forms.FormState.refused(request.POST, error),
            "form_id": f"stage-{stage.pk}-add",
            **_touch_point_choices(),
        }
        return _form(
            request, "web/editor/_touch_point_add_form.html", context, status=FORM_ERROR_STATUS
        )
    return _map(
        request, stage.journey, membership, message=f"{touch_point.name} added to {stage.name}."
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def touch_point_edit(request: HttpRequest, touch_point_id: int) -> HttpResponse:
    """GET: the edit form, loaded into the card. POST: the change, then the fresh map."""
    touch_point, membership = _touch_point(request, touch_point_id)
    form_id = f"tp-{touch_point.pk}-edit"
    base = {"touch_point": touch_point, "form_id": form_id, **_touch_point_choices()}
    if request.method == "GET":
        values = {
            "name": touch_point.name,
            "description": touch_point.description,
            "channel": touch_point.channel,
            "owner_team": touch_point.owner_team,
            "importance": touch_point.importance,
            "target": "" if touch_point.target is None else touch_point.target,
        }
        return _form(
            request, "web/editor/_touch_point_edit.html", {**base, "form": forms.FormState(values)}
        )
    try:
        tp_services.update_touch_point(
            actor=signed_in_user(request),
            touch_point=touch_point,
            data=forms.touch_point_data(request.POST),
        )
    except ValidationError as error:
        context = {**base, "form": forms.FormState.refused(request.POST, error)}
        return _form(
            request, "web/editor/_touch_point_edit.html", context, status=FORM_ERROR_STATUS
        )
    return _map(request, touch_point.journey, membership, message=f"{touch_point.name} saved.")


def _touch_point_target(
    touch_point: TouchPoint, direction: str | None, post: Any
) -> tuple[int | str | None, Stage | None]:
    """(position, stage) of a move. A keyboard move is counted from the fresh order: up and
    down within the stage, or to the end of the stage before or after."""
    if direction is None:
        stage_id = forms.whole_number(post.get("stage", ""))
        stage = None
        if stage_id is not None:
            # Only a stage of the same journey; anything else is the service's "choose an
            # active stage of the same journey" (a stage of another organization included).
            stage = Stage.objects.filter(pk=stage_id if isinstance(stage_id, int) else 0).first()
            if stage is None or stage.journey_id != touch_point.journey_id:
                raise ValidationError({"stage": ["Choose an active stage of the same journey."]})
        return forms.position(post), stage
    touch_point.refresh_from_db(fields=["position", "stage"])
    if touch_point.position is None:
        return 0, None  # archived: the service says so
    if direction in ("up", "down"):
        return touch_point.position + (-1 if direction == "up" else 1), None
    stages = list(
        Stage.objects.filter(journey_id=touch_point.journey_id, archived_at__isnull=True)
        .order_by("position")
        .values_list("pk", flat=True)
    )
    index = stages.index(touch_point.stage_id) + (-1 if direction == "previous_stage" else 1)
    if not 0 <= index < len(stages):
        raise ValidationError({"stage": ["There is no stage on that side."]})
    stage = Stage.objects.get(pk=stages[index])
    end = TouchPoint.objects.filter(stage=stage, archived_at__isnull=True).count()
    return end, stage


@editor_action
def touch_point_move(request: HttpRequest, touch_point_id: int) -> HttpResponse:
    touch_point, membership = _touch_point(request, touch_point_id)
    journey = touch_point.journey
    direction = forms.move_direction(request.POST)
    try:
        position, stage = _touch_point_target(touch_point, direction, request.POST)
        tp_services.move_touch_point(
            actor=signed_in_user(request),
            touch_point=touch_point,
            position=position,  # type: ignore[arg-type]
            stage=stage,
        )
    except ValidationError as error:
        return _map(request, journey, membership, message=_refused(error), status=REFUSED_STATUS)
    touch_point.refresh_from_db(fields=["position", "stage"])
    return _map(
        request,
        journey,
        membership,
        message=(
            f"{touch_point.name} is now number {(touch_point.position or 0) + 1} "
            f"in {touch_point.stage.name}."
        ),
        open_touch_point=touch_point.pk if direction else None,
    )


@editor_action
def touch_point_archive(request: HttpRequest, touch_point_id: int) -> HttpResponse:
    touch_point, membership = _touch_point(request, touch_point_id)
    tp_services.archive_touch_point(actor=signed_in_user(request), touch_point=touch_point)
    return _map(request, touch_point.journey, membership, message=f"{touch_point.name} archived.")


@editor_action
def touch_point_restore(request: HttpRequest, touch_point_id: int) -> HttpResponse:
    touch_point, membership = _touch_point(request, touch_point_id)
    tp_services.restore_touch_point(actor=signed_in_user(request), touch_point=touch_point)
    return _map(request, touch_point.journey, membership, message=f"{touch_point.name} restored.")


# --- Criteria (on the touch-point page) ------------------------------------------------------


def _criterion_values(criterion: Criterion) -> dict[str, Any]:
    rubric = criterion.rubric
    return {
        "name": criterion.name,
        "kind": rubric.kind,
        "scale_size": rubric.scale_size,
        "scale_labels": "\n".join(rubric.scale_labels),
        "target_value": rubric.target_value,
        "worst_value": rubric.worst_value,
        "unit": rubric.unit,
        "weight": rubric.weight,
        "critical": rubric.critical,
    }


def _criteria_context(
    touch_point: TouchPoint,
    *,
    failed_id: int | None = None,
    failed_form: forms.FormState | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Active criteria in order, each with its edit form (the refused one as typed)."""
    criteria = list(
        Criterion.objects.filter(touch_point_id=touch_point.pk)
        .select_related("current_version")
        .order_by("position", "name", "id")
    )
    return {
        "touch_point": touch_point,
        "criterion_forms": [
            (
                c,
                failed_form
                if c.pk == failed_id and failed_form
                else forms.FormState(_criterion_values(c)),
                f"criterion-{c.pk}",
            )
            for c in criteria
            if not c.is_archived
        ],
        "failed_id": failed_id,
        "archived_criteria": [c for c in criteria if c.is_archived],
        "kinds": CriterionKind.choices,
        "new_form": forms.FormState({"kind": CriterionKind.SCALE, "weight": 1}),
        **extra,
    }


def _on_map(request: HttpRequest) -> bool:
    """Whether the htmx request comes from a journey map (HX-Current-URL)."""
    current = urlsplit(request.headers.get("HX-Current-URL", "")).path
    try:
        return resolve(current).url_name == "journey-map"
    except Resolver404:
        return False


def _criteria(
    request: HttpRequest, touch_point: TouchPoint, *, status: int = 200, **extra: Any
) -> HttpResponse:
    """The criteria editor, fresh from the database."""
    context = _criteria_context(touch_point, failed=status >= 400, **extra)
    if not is_htmx(request):
        if extra.get("message"):
            (messages.error if status >= 400 else messages.success)(request, extra["message"])
        return render(request, "web/editor/criteria_page.html", context, status=status)
    # On the map, the card's criteria line follows in the same answer (out of band): the
    # map's own refresh waits while the editor is open.
    context["on_map"] = request.method == "POST" and _on_map(request)
    response = render(request, "web/editor/_criteria.html", context, status=status)
    if request.method == "POST" and status < 400:
        # Every other section that shows criteria (the touch point page's Criteria table,
        # the map) refreshes now, instead of saying "No criteria yet" after an add.
        response["HX-Trigger"] = "touchstone:scored"
    return response


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def criteria(request: HttpRequest, touch_point_id: int) -> HttpResponse:
    """GET: the criteria editor (the touch-point page loads it). POST: add a criterion."""
    touch_point, _ = _touch_point(request, touch_point_id)
    if request.method == "GET":
        return _criteria(request, touch_point)
    data = forms.criterion_data(request.POST)
    try:
        criterion = tp_services.create_criterion(
            actor=signed_in_user(request),
            touch_point=touch_point,
            name=data.pop("name", ""),
            kind=data.pop("kind", ""),
            **data,
        )
    except ValidationError as error:
        return _criteria(
            request,
            touch_point,
            status=FORM_ERROR_STATUS,
            new_form=forms.FormState.refused(request.POST, error),
            add_open=True,
        )
    return _criteria(request, touch_point, message=f"Criterion {criterion.name} added.")


@editor_action
def criterion_update(request: HttpRequest, criterion_id: int) -> HttpResponse:
    criterion, _ = _criterion(request, criterion_id)
    data = forms.criterion_data(request.POST)
    try:
        criterion = tp_services.update_criterion(
            actor=signed_in_user(request), criterion=criterion, data=data
        )
    except ValidationError as error:
        return _criteria(
            request,
            criterion.touch_point,
            status=FORM_ERROR_STATUS,
            failed_id=criterion.pk,
            failed_form=forms.FormState.refused(request.POST, error),
        )
    return _criteria(request, criterion.touch_point, message=f"Criterion {criterion.name} saved.")


@editor_action
def criterion_move(request: HttpRequest, criterion_id: int) -> HttpResponse:
    criterion, _ = _criterion(request, criterion_id)
    direction = forms.move_direction(request.POST)
    target: int | str | None = forms.position(request.POST)
    if direction in ("up", "down"):
        criterion.refresh_from_db(fields=["position"])
        if criterion.position is not None:
            target = criterion.position + (-1 if direction == "up" else 1)
    try:
        tp_services.move_criterion(
            actor=signed_in_user(request),
            criterion=criterion,
            position=target,  # type: ignore[arg-type]
        )
    except ValidationError as error:
        return _criteria(
            request, criterion.touch_point, status=REFUSED_STATUS, message=_refused(error)
        )
    criterion.refresh_from_db(fields=["position"])
    return _criteria(
        request,
        criterion.touch_point,
        message=f"{criterion.name} is now criterion {(criterion.position or 0) + 1}.",
        focus_id=criterion.pk if direction else None,
    )


@editor_action
def criterion_archive(request: HttpRequest, criterion_id: int) -> HttpResponse:
    criterion, _ = _criterion(request, criterion_id)
    tp_services.archive_criterion(actor=signed_in_user(request), criterion=criterion)
    return _criteria(
        request, criterion.touch_point, message=f"Criterion {criterion.name} archived."
    )


@editor_action
def criterion_restore(request: HttpRequest, criterion_id: int) -> HttpResponse:
    criterion, _ = _criterion(request, criterion_id)
    tp_services.restore_criterion(actor=signed_in_user(request), criterion=criterion)
    return _criteria(
        request, criterion.touch_point, message=f"Criterion {criterion.name} restored."
    )
