"""Writes of the alerts app: actions and their verdicts, events and their fan-out, settings.

Every event goes through ``record_event``: it stores the event once (its key), puts it in
every member's feed with the way each hears it by email, and creates one webhook delivery
per endpoint that asked for its type, all in the caller's transaction. Sending (emails,
HTTP) happens after commit in Celery tasks, so a slow mail server or a hanging receiver
never holds up a request or a recompute.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import date, datetime, time
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Avg, Count, StdDev
from django.utils import timezone

from accounts.access import membership_for
from accounts.models import Membership, Organization, Role, User
from accounts.services import record_audit
from alerts.models import (
    MANAGER_DEFAULT_KINDS,
    Action,
    ActionState,
    AlertSettings,
    EmailMode,
    Event,
    EventKind,
    Notification,
    NotificationSetting,
    WebhookDelivery,
    WebhookEndpoint,
)
from core import broker
from core.text import clean_text, conflict, not_found
from journeys.models import Journey
from scoring import verification
from scoring.models import ScoreTransition, TouchPointScore
from touchpoints.models import CriticalFailure, Evaluation, TouchPoint

log = logging.getLogger(__name__)
# Published by name (core.broker): tasks.py imports this module.
SEND_PENDING = "alerts.tasks.send_pending"

DESCRIPTION_MAX = 2000
#: Outbox rows turned into events per transaction.
OUTBOX_BATCH = 500


# --- Events ----------------------------------------------------------------------------------


def _journey_ref(journey: Journey | None) -> dict[str, Any] | None:
    return None if journey is None else {"id": journey.pk, "name": journey.name}


def webhook_payload(event: Event) -> dict[str, Any]:
    """The body every webhook of this event carries (documented in the OpenAPI schema)."""
    return {
        "type": event.kind,
        "timestamp": event.occurred_at.isoformat(),
        "data": {
            "event_id": event.pk,
            "organization": event.organization.slug,
            "summary": event.summary,
            "journey": _journey_ref(event.journey),
            "touch_point": (
                None
                if event.touch_point is None
                else {"id": event.touch_point.pk, "name": event.touch_point.name}
            ),
            "action_id": event.action_id,
            "figures": event.data,
        },
    }


def new_msg_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def record_event(
    *,
    organization: Organization,
    kind: str,
    key: str,
    summary: str,
    data: dict[str, Any],
    occurred_at: datetime,
    journey: Journey | None = None,
    touch_point: TouchPoint | None = None,
    action: Action | None = None,
    managers_only: bool = False,
) -> Event | None:
    """Store an event once and fan it out (feeds, email modes, webhook deliveries) in the
    caller's transaction. None when an event with this key exists already."""
    event, created = Event.objects.get_or_create(
        key=key,
        defaults={
            "organization": organization,
            "kind": kind,
            "journey": journey,
            "touch_point": touch_point,
            "action": action,
            "summary": summary[:400],
            "data": data,
            "occurred_at": occurred_at,
        },
    )
    if not created:
        return None
    fan_out([event], managers_only=managers_only)
    return event


def fan_out(events: list[Event], *, managers_only: bool = False) -> None:
    """Feed entries for every member of each event's organization (one INSERT ... SELECT),
    with the email mode each member chose for the event's journey (or the default), and
    webhook deliveries for the endpoints that asked for the event's type. Sending is
    queued after commit."""
    if not events:
        return
    ids = [e.pk for e in events]
    defaults = [str(k) for k in MANAGER_DEFAULT_KINDS]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Notification._meta.db_table} (organization_id, event_id, user_id, email)
            SELECT e.organization_id, e.id, m.user_id,
                   COALESCE(s.mode, CASE WHEN m.role = %s AND e.kind = ANY(%s)
                                         THEN %s ELSE %s END)
            FROM {Event._meta.db_table} e
            JOIN {Membership._meta.db_table} m ON m.organization_id = e.organization_id
            LEFT JOIN {NotificationSetting._meta.db_table} s
                   ON s.membership_id = m.id AND s.journey_id = e.journey_id
            WHERE e.id = ANY(%s) AND (NOT %s OR m.role = %s)
            ON CONFLICT DO NOTHING
            """,  # noqa: S608 (model table names; values are parameters)
            [
                Role.MANAGER,
                defaults,
                EmailMode.IMMEDIATE,
                EmailMode.NONE,
                ids,
                managers_only,
                Role.MANAGER,
            ],
        )
    _create_deliveries(events)
    transaction.on_commit(lambda: _queue_sending(ids))


def _create_deliveries(events: list[Event]) -> None:
    org_ids = {e.organization_id for e in events}
    endpoints: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in WebhookEndpoint.objects.filter(organization_id__in=org_ids, enabled=True):
        endpoints.setdefault(endpoint.organization_id, []).append(endpoint)
    if not endpoints:
        return
    now = timezone.now()
    rows = []
    for event in events:
        if event.kind == EventKind.ENDPOINT_DISABLED:
            continue  # told to managers, never sent to the (failing) integrations
        wanted = [
            ep for ep in endpoints.get(event.organization_id, []) if event.kind in ep.event_types
        ]
        if not wanted:
            continue
        body = json.dumps(webhook_payload(event), separators=(",", ":"))
        rows += [
            WebhookDelivery(
                organization_id=event.organization_id,
                endpoint=ep,
                event=event,
                msg_id=new_msg_id(),
                event_type=event.kind,
                payload=body,
                next_attempt_at=now,
                created_at=now,
            )
            for ep in wanted
        ]
    WebhookDelivery.objects.bulk_create(rows, batch_size=2000)


def _queue_sending(event_ids: list[int]) -> None:
    """After commit: ask a worker to send the immediate emails and the webhooks. Never
    fails the caller: the beat task sends whatever a lost message left behind."""
    try:
        broker.send_task(SEND_PENDING)
    except Exception:
        log.warning("Could not queue alert sending; the beat task will.", exc_info=True)


# --- Outboxes: score transitions and critical failures ----------------------------------------

_TRANSITION_TEXT = {
    EventKind.WEAK_LINK_ENTERED: "“{name}” became a weak link: smoothed {smoothed}, target {target}.",
    EventKind.WEAK_LINK_LEFT: "“{name}” is no longer a weak link: smoothed {smoothed}, target {target}.",
    EventKind.BLIND_SPOT_SCORED: "“{name}” has enough evaluations for a status now ({n}): {status}.",
}


def _fmt(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1f}"


def _transition_summary(t: ScoreTransition) -> str:
    f = t.figures
    if t.kind == EventKind.JOURNEY_TARGET_CROSSED:
        verb = "reached" if f.get("direction") == "up" else "fell below"
        return f"“{t.journey.name}” {verb} its target {_fmt(f.get('target'))}: score {_fmt(f.get('score'))}."
    return _TRANSITION_TEXT[EventKind(t.kind)].format(
        name=f.get("touch_point_name", ""),
        smoothed=_fmt(f.get("smoothed")),
        target=_fmt(f.get("target")),
        n=f.get("n"),
        status=str(f.get("status", "")).replace("_", " "),
    )


def drain_outboxes() -> int:
    """Turn the recompute's transitions and the submissions' critical failures into
    events, a batch per transaction; the outbox rows go in the same transaction, so a
    crash in between loses nothing and records nothing twice. Returns events recorded."""
    recorded = 0
    while True:
        with transaction.atomic():
            batch = list(
                ScoreTransition.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("organization", "journey", "touch_point")
                .order_by("id")[:OUTBOX_BATCH]
            )
            events = [
                Event(
                    organization=t.organization,
                    kind=t.kind,
                    journey=t.journey,
                    touch_point=t.touch_point,
                    summary=_transition_summary(t)[:400],
                    data=t.figures,
                    occurred_at=t.at,
                    key=f"transition:{t.pk}",
                )
                for t in batch
            ]
            failures = list(
                CriticalFailure.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("organization", "criterion", "evaluation__touch_point__journey")
                .order_by("id")[:OUTBOX_BATCH]
            )
            events += [_critical_event(f) for f in failures]
            if not events:
                return recorded
            # Outbox rows go in the transaction that records their events, so a known key
            # would mean a row read twice; the unique key makes that a no-op, not a repeat.
            known = set(
                Event.objects.filter(key__in=[e.key for e in events]).values_list("key", flat=True)
            )
            fresh = Event.objects.bulk_create([e for e in events if e.key not in known])
            fan_out(fresh)
            ScoreTransition.objects.filter(pk__in=[t.pk for t in batch]).delete()
            CriticalFailure.objects.filter(pk__in=[f.pk for f in failures]).delete()
            recorded += len(fresh)


def _critical_event(f: CriticalFailure) -> Event:
    evaluation: Evaluation = f.evaluation
    tp = evaluation.touch_point
    return Event(
        organization=f.organization,
        kind=EventKind.CRITICAL_FAILURE,
        journey=tp.journey,
        touch_point=tp,
        summary=f"An evaluation of “{tp.name}” failed the critical criterion “{f.criterion.name}”.",
        data={
            "touch_point_name": tp.name,
            "evaluation_id": evaluation.pk,
            "criterion_id": f.criterion_id,
            "criterion_name": f.criterion.name,
            "source": evaluation.source,
            "site_id": evaluation.site_id,
            "observed_at": evaluation.observed_at.isoformat(),
            "score": evaluation.score,
        },
        occurred_at=f.at,
        key=f"critical:{evaluation.pk}:{f.criterion_id}",
    )


# --- Actions -----------------------------------------------------------------------------------


def _require_manager(
    actor: User, organization_id: int, refusal: str = "Only managers open actions."
) -> Membership:
    membership = membership_for(actor, organization_id)
    if membership is None or membership.role != Role.MANAGER:
        raise PermissionDenied(refusal)
    return membership


def _clean_due(errors: dict[str, list[str]], value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime) or not isinstance(value, date):
        errors.setdefault("due", []).append("Must be a date (YYYY-MM-DD).")
        return None
    if not date(2000, 1, 1) <= value <= date(2999, 12, 31):
        errors.setdefault("due", []).append("Must be a date between 2000 and 2999.")
    return value


def _action_event(action: Action, kind: str, *, now: datetime) -> None:
    tp = action.touch_point
    words = {
        EventKind.ACTION_OPENED: "opened",
        EventKind.ACTION_DONE: "marked done",
        EventKind.ACTION_VERIFYING: "is verifying: evidence is arriving",
        EventKind.ACTION_VERIFIED: "is verified: the touch point got better",
        EventKind.ACTION_NOT_SHOWN: "was not shown to work",
    }[EventKind(kind)]
    record_event(
        organization=action.organization,
        kind=kind,
        key=f"action:{action.pk}:{kind}",
        summary=f"Action on “{tp.name}” {words}: {action.description[:200]}",
        data=action_figures(action),
        occurred_at=now,
        journey=action.journey,
        touch_point=tp,
        action=action,
    )


def action_figures(action: Action) -> dict[str, Any]:
    """The action's state with its baseline and evidence: the figures its events carry."""
    return {
        "action_id": action.pk,
        "touch_point_name": action.touch_point.name,
        "description": action.description,
        "state": action.state,
        "owner_id": action.owner_id,
        "due": action.due.isoformat() if action.due else None,
        "done_at": action.done_at.isoformat() if action.done_at else None,
        "review_days": action.review_days,
        "baseline": {
            "n": action.baseline_n,
            "mean": action.baseline_mean,
            "smoothed": action.baseline_smoothed,
            "ci_low": action.baseline_ci_low,
            "ci_high": action.baseline_ci_high,
        },
        "evidence": {
            "n": action.evidence_n,
            "mean": action.evidence_mean,
            "sd": action.evidence_sd,
            "ci_low": action.evidence_low,
        },
    }


@transaction.atomic
def open_action(
    *,
    actor: User,
    touch_point: TouchPoint,
    description: Any,
    owner_id: Any,
    due: Any = None,
) -> Action:
    """Open an action on a touch point (managers), with the touch point's current
    snapshot as its baseline."""
    _require_manager(actor, touch_point.organization_id)
    errors: dict[str, list[str]] = {}
    text = clean_text(errors, "description", description, max_length=DESCRIPTION_MAX, required=True)
    owner = None
    if isinstance(owner_id, int) and not isinstance(owner_id, bool) and 0 < owner_id < 2**63:
        owner = (
            User.objects.filter(
                pk=owner_id,
                is_active=True,
                memberships__organization_id=touch_point.organization_id,
            )
            .distinct()
            .first()
        )
    # A member id that names nobody here is a reference to nothing (404), an archived
    # touch point a conflict with the current state (409): core.api.errors.
    refused: dict[str, list[ValidationError]] = {}
    if owner is None:
        refused["owner"] = [not_found("Choose a member of this organization.")]
    due_date = _clean_due(errors, due)
    if touch_point.archived_at is not None:
        refused["touch_point"] = [conflict("This touch point is archived.")]
    if errors or refused:
        raise ValidationError({**errors, **refused})
    if owner is None:  # raise_if refused it above; this narrows the type for mypy
        raise ValidationError({"owner": [not_found("Choose a member of this organization.")]})
    now = timezone.now()
    snapshot = TouchPointScore.objects.filter(touch_point_id=touch_point.pk).first()
    action = Action.objects.create(
        organization_id=touch_point.organization_id,
        journey_id=touch_point.journey_id,
        touch_point=touch_point,
        description=text,
        owner=owner,
        due=due_date,
        review_days=settings.ACTIONS_REVIEW_DAYS,
        opened_by=actor,
        opened_at=now,
        baseline_n=snapshot.n if snapshot else 0,
        baseline_mean=snapshot.mean if snapshot else None,
        baseline_smoothed=snapshot.smoothed if snapshot else None,
        baseline_ci_low=snapshot.ci_low if snapshot else None,
        baseline_ci_high=snapshot.ci_high if snapshot else None,
        baseline_window_start=snapshot.window_start if snapshot else None,
        baseline_window_end=snapshot.window_end if snapshot else None,
        state=ActionState.OPENED,
        state_changed_at=now,
    )
    record_audit(
        actor=actor,
        organization=touch_point.organization_id,
        action="open_action",
        obj=action,
        changes={
            "description": text,
            "owner": owner.email if owner else None,
            "due": str(due_date),
        },
    )
    _action_event(action, EventKind.ACTION_OPENED, now=now)
    return action


@transaction.atomic
def mark_action_done(*, actor: User, action: Action) -> Action:
    """The owner (or a manager) says the fix is in place: from now on only evaluations
    observed after this moment count as evidence."""
    membership = membership_for(actor, action.organization_id)
    if membership is None or (membership.role != Role.MANAGER and actor.pk != action.owner_id):
        raise PermissionDenied("Only the owner or a manager marks an action done.")
    locked: Action = (
        Action.objects.select_for_update().select_related("touch_point").get(pk=action.pk)
    )
    if locked.state != ActionState.OPENED:
        raise ValidationError({"state": [conflict("This action is already done.")]})
    now = timezone.now()
    locked.done_at = now
    locked.done_by = actor
    locked.state = ActionState.DONE
    locked.state_changed_at = now
    locked.save(update_fields=["done_at", "done_by", "state", "state_changed_at"])
    record_audit(
        actor=actor,
        organization=locked.organization_id,
        action="action_done",
        obj=locked,
        changes={"state": [ActionState.OPENED, ActionState.DONE]},
    )
    _action_event(locked, EventKind.ACTION_DONE, now=now)
    return locked


def evidence_for(action: Action) -> verification.Evidence:
    """Scored evaluations of the touch point observed after done, within the review."""
    if action.done_at is None:
        return verification.NO_EVIDENCE
    agg = Evaluation.objects.filter(
        touch_point_id=action.touch_point_id,
        observed_at__gt=action.done_at,
        observed_at__lte=verification.review_ends(action.done_at, action.review_days),
        score__isnull=False,
    ).aggregate(n=Count("id"), mean=Avg("score"), sd=StdDev("score", sample=True))
    n = int(agg["n"] or 0)
    return verification.Evidence(n=n, mean=agg["mean"], sd=agg["sd"] if n >= 2 else None)


_STATE_EVENTS = {
    ActionState.VERIFYING: EventKind.ACTION_VERIFYING,
    ActionState.VERIFIED: EventKind.ACTION_VERIFIED,
    ActionState.NOT_SHOWN_TO_WORK: EventKind.ACTION_NOT_SHOWN,
}


def judge_action(action_id: int, *, now: datetime | None = None) -> str | None:
    """Recompute one action's verdict from the evidence; a change of state is saved,
    audited and recorded as an event. Returns the state, None if nothing to judge."""
    now = now or timezone.now()
    with transaction.atomic():
        action = (
            Action.objects.select_for_update(of=("self",))
            .select_related("organization", "touch_point", "journey")
            .filter(pk=action_id)
            .first()
        )
        if action is None or action.state == ActionState.OPENED or action.is_final:
            return None if action is None else action.state
        assert action.done_at is not None  # noqa: S101 (a check constraint holds it)
        evidence = evidence_for(action)
        state = verification.verdict(
            baseline_mean=action.baseline_mean,
            evidence=evidence,
            done_at=action.done_at,
            now=now,
            min_n=action.organization.min_n,
            review_days=action.review_days,
        )
        before = action.state
        action.evidence_n = evidence.n
        action.evidence_mean = evidence.mean
        action.evidence_sd = evidence.sd
        action.evidence_low = verification.evidence_low(evidence)
        action.judged_at = now
        fields = ["evidence_n", "evidence_mean", "evidence_sd", "evidence_low", "judged_at"]
        if state != before:
            action.state = state
            action.state_changed_at = now
            fields += ["state", "state_changed_at"]
        action.save(update_fields=fields)
        if state != before:
            record_audit(
                actor=None,
                organization=action.organization_id,
                action="action_verdict",
                obj=action,
                changes={"state": [before, state], "evidence_n": evidence.n},
            )
            kind = _STATE_EVENTS.get(ActionState(state))
            if kind is not None:
                _action_event(action, kind, now=now)
        return state


def judge_awaiting(*, now: datetime | None = None) -> int:
    """Judge every action waiting for a verdict whose touch point was rescored since its
    last judgement, or whose review period has ended. Returns how many were judged."""
    now = now or timezone.now()
    waiting = Action.objects.filter(
        state__in=[ActionState.DONE, ActionState.VERIFYING]
    ).values_list("pk", "touch_point_id", "judged_at", "done_at", "review_days")
    rows = list(waiting)
    if not rows:
        return 0
    computed = dict(
        TouchPointScore.objects.filter(touch_point_id__in={r[1] for r in rows}).values_list(
            "touch_point_id", "computed_at"
        )
    )
    judged = 0
    for pk, tp_id, judged_at, done_at, review_days in rows:
        rescored = computed.get(tp_id)
        due = verification.review_ends(done_at, review_days) <= now
        if judged_at is None or due or (rescored is not None and rescored > judged_at):
            judge_action(pk, now=now)
            judged += 1
    return judged


# --- Settings ----------------------------------------------------------------------------------


@transaction.atomic
def set_notification_mode(
    *, actor: User, membership: Membership, journey: Journey, mode: Any
) -> NotificationSetting:
    """A member chooses how they hear about one journey (their own setting only)."""
    if membership.user_id != actor.pk or journey.organization_id != membership.organization_id:
        raise PermissionDenied("You can only change your own notification settings.")
    if mode not in EmailMode.values:
        raise ValidationError({"mode": [f"Must be one of {', '.join(EmailMode.values)}."]})
    setting, _ = NotificationSetting.objects.update_or_create(
        membership=membership, journey=journey, defaults={"mode": mode}
    )
    return setting


def effective_mode(membership: Membership, journey_id: int, kind: str) -> str:
    """How this member hears an event of `kind` on this journey (the fan-out's rule)."""
    chosen = (
        NotificationSetting.objects.filter(membership=membership, journey_id=journey_id)
        .values_list("mode", flat=True)
        .first()
    )
    if chosen:
        return str(chosen)
    if membership.role == Role.MANAGER and kind in MANAGER_DEFAULT_KINDS:
        return EmailMode.IMMEDIATE
    return EmailMode.NONE


def mark_read(
    *, user: User, organization_id: int, notification_ids: list[int] | None = None
) -> int:
    """Mark some (or all) of a member's unread feed entries read. Returns how many."""
    unread = Notification.objects.filter(
        user_id=user.pk, organization_id=organization_id, read_at__isnull=True
    )
    if notification_ids is not None:
        unread = unread.filter(pk__in=notification_ids)
    return unread.update(read_at=timezone.now())


@transaction.atomic
def set_digest_time(*, actor: User, organization_id: int, value: Any) -> AlertSettings:
    """A manager sets when the organization's daily digest goes out (UTC, whole minutes)."""
    _require_manager(actor, organization_id, "Only managers set the digest time.")
    if isinstance(value, str):
        try:
            value = time.fromisoformat(value)
        except ValueError:
            value = None
    if not isinstance(value, time) or value.tzinfo is not None:
        raise ValidationError({"digest_time": ["Must be a time of day, HH:MM (UTC)."]})
    found: tuple[AlertSettings, bool] = AlertSettings.objects.select_for_update().get_or_create(
        organization_id=organization_id
    )
    row = found[0]
    before = row.digest_time
    row.digest_time = value.replace(second=0, microsecond=0)
    row.save(update_fields=["digest_time"])
    if before != row.digest_time:
        record_audit(
            actor=actor,
            organization=organization_id,
            action="update",
            obj=row,
            changes={"digest_time": [str(before), str(row.digest_time)]},
        )
    return row


def alert_settings(organization_id: int) -> AlertSettings:
    """The organization's alert settings; the defaults (unsaved) when never set."""
    found = AlertSettings.objects.filter(organization_id=organization_id).first()
    return found or AlertSettings(organization_id=organization_id)
