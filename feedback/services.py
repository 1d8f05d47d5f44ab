"""Writes for customer feedback: the questions a touch point asks, its links, and each
customer's response.

A response goes through touchpoints.services.submit_evaluation like every staff entry
(validation, SQL scoring, stale mark and recompute on commit); here it only gains its
source (customer survey), no user, the link's site, "observed now", and the row that says
which link it came through.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.access import require_role
from accounts.models import ROLES_THAT_EDIT_STRUCTURE, User
from accounts.services import record_audit
from core.text import clean_text, raise_if
from feedback.models import (
    LABEL_MAX_LENGTH,
    MAX_QUESTIONS,
    PUBLIC_COMMENT_MAX_LENGTH,
    QUESTION_MAX_LENGTH,
    FeedbackLink,
    FeedbackQuestion,
    FeedbackResponse,
    FeedbackSetup,
    Language,
)
from touchpoints.models import Criterion, CriterionKind, Evaluation, Site, Source, TouchPoint
from touchpoints.services import AnswerInput, submit_evaluation

# The kinds a customer can answer with a tap; numeric criteria (minutes waited, ...) are
# measured by staff.
ASKABLE_KINDS = frozenset({CriterionKind.SCALE, CriterionKind.YES_NO})


class LinkClosedError(Exception):
    """The link was revoked or has expired: it takes no answers."""


@dataclass(frozen=True)
class QuestionInput:
    criterion_id: Any
    text: Any


def new_token() -> str:
    """128 random bits, URL-safe: not guessable, short enough for a QR code and a poster."""
    return secrets.token_urlsafe(16)


def askable_criteria(touch_point: TouchPoint) -> list[Criterion]:
    """The touch point's active criteria a customer can answer (scale and yes/no)."""
    return [
        c
        for c in Criterion.objects.filter(touch_point_id=touch_point.pk, archived_at__isnull=True)
        .select_related("current_version")
        .order_by("position", "id")
        if c.current_version is not None and c.current_version.kind in ASKABLE_KINDS
    ]


@transaction.atomic
def save_questions(
    *,
    actor: User,
    touch_point: TouchPoint,
    questions: Sequence[QuestionInput],
    ask_comment: bool,
) -> list[FeedbackQuestion]:
    """Replace what the touch point asks its customers. Audit-logged with before and after."""
    require_role(actor, touch_point.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    errors: dict[str, list[str]] = {}
    askable = {c.pk: c for c in askable_criteria(touch_point)}
    if len(questions) > MAX_QUESTIONS:
        errors["questions"] = [
            f"Ask at most {MAX_QUESTIONS} questions: customers answer in a few taps."
        ]
    if not isinstance(ask_comment, bool):
        errors["ask_comment"] = ["Must be true or false."]
    cleaned: list[tuple[int, str]] = []
    seen: set[Any] = set()
    for index, question in enumerate(questions):
        criterion = askable.get(question.criterion_id)
        if criterion is None:
            errors.setdefault(f"questions[{index}].criterion", []).append(
                "Choose an active scale or yes/no criterion of this touch point."
            )
            continue
        if criterion.pk in seen:
            errors.setdefault(f"questions[{index}].criterion", []).append(
                f"{criterion.name!r} is asked more than once."
            )
        seen.add(criterion.pk)
        text = clean_text(
            errors,
            f"questions[{index}].text",
            question.text,
            max_length=QUESTION_MAX_LENGTH,
            required=True,
        )
        cleaned.append((criterion.pk, text))
    raise_if(errors)

    setup, _ = FeedbackSetup.objects.select_for_update().get_or_create(
        touch_point=touch_point, defaults={"organization_id": touch_point.organization_id}
    )
    before = {
        "questions": [
            [q.criterion_id, q.text]
            for q in FeedbackQuestion.objects.filter(touch_point_id=touch_point.pk)
        ],
        "ask_comment": setup.ask_comment,
    }
    after = {"questions": [[pk, text] for pk, text in cleaned], "ask_comment": ask_comment}
    if before == after:
        return list(FeedbackQuestion.objects.filter(touch_point_id=touch_point.pk))
    FeedbackQuestion.objects.filter(touch_point_id=touch_point.pk).delete()
    saved = FeedbackQuestion.objects.bulk_create(
        [
            FeedbackQuestion(
                organization_id=touch_point.organization_id,
                touch_point=touch_point,
                criterion_id=pk,
                text=text,
                position=position,
            )
            for position, (pk, text) in enumerate(cleaned)
        ]
    )
    setup.ask_comment = ask_comment
    setup.save(update_fields=["ask_comment", "updated_at"])
    record_audit(
        actor=actor,
        organization=touch_point.organization_id,
        action="update",
        obj=setup,
        changes={key: [before[key], after[key]] for key in before if before[key] != after[key]},
    )
    return saved


def _clean_expiry(errors: dict[str, list[str]], value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or timezone.is_naive(value):
        errors["expires_at"] = ["Give the expiry as a date and time with its time zone."]
        return None
    if value <= timezone.now():
        errors["expires_at"] = ["The expiry must be in the future."]
    return value


@transaction.atomic
def create_link(
    *,
    actor: User,
    touch_point: TouchPoint,
    label: Any = "",
    site_id: Any = None,
    language: Any = "",
    expires_at: Any = None,
) -> FeedbackLink:
    """A new public link (and poster) for the touch point."""
    require_role(actor, touch_point.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    errors: dict[str, list[str]] = {}
    label = clean_text(errors, "label", label, max_length=LABEL_MAX_LENGTH)
    if language not in Language.values:
        errors["language"] = [
            f"Language must be one of {', '.join(repr(v) for v in Language.values)}."
        ]
    expires_at = _clean_expiry(errors, expires_at)
    site = None
    if site_id is not None:
        site = (
            Site.objects.for_organization(touch_point.organization_id).filter(pk=site_id).first()
            if isinstance(site_id, int) and not isinstance(site_id, bool) and 0 < site_id < 2**63
            else None
        )
        if site is None:
            errors["site"] = ["No such site."]
        elif site.archived_at is not None:
            errors["site"] = ["This site is archived and takes no new evaluations."]
    if touch_point.is_archived:
        errors["touch_point"] = ["This touch point is archived and takes no new evaluations."]
    raise_if(errors)
    link = FeedbackLink.objects.create(
        organization_id=touch_point.organization_id,
        touch_point=touch_point,
        site=site,
        token=new_token(),
        label=label,
        language=language,
        expires_at=expires_at,
        created_by=actor,
    )
    record_audit(
        actor=actor,
        organization=touch_point.organization_id,
        action="create",
        obj=link,
        changes={
            "touch_point": [None, touch_point.name],
            "site": [None, site.name if site else None],
            "language": [None, language],
            "expires_at": [None, expires_at.isoformat() if expires_at else None],
        },
    )
    return link


@transaction.atomic
def revoke_link(*, actor: User, link: FeedbackLink) -> FeedbackLink:
    """Stop a link taking answers (its page answers 410 from now on). Safe to repeat."""
    require_role(actor, link.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    link = FeedbackLink.objects.select_for_update().get(pk=link.pk)
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
        record_audit(actor=actor, organization=link.organization_id, action="revoke", obj=link)
    return link


_THROUGH_LINK_SQL = f"""
    INSERT INTO {FeedbackResponse._meta.db_table} (evaluation_id, link_id, received_at)
    SELECT unnest(%s::bigint[]), %s, %s
"""


def submit_response(
    *,
    link: FeedbackLink,
    answers: Mapping[int, float],
    comment: str = "",
) -> Evaluation:
    """Store one customer's answers as an evaluation through the one submit path.

    `answers` maps criterion ids to values already parsed from the page's fixed choices;
    the submit service checks them against the rubric like any other answer. Raises
    LinkClosedError for a revoked or expired link, ValidationError for a refused answer.
    The row naming the link is stored in the submit service's own transaction.
    """
    # No lock on the link: every response to it would queue behind the one before. A
    # revoke racing a response may let that one response in; none after the revoke.
    if not link.is_open:
        raise LinkClosedError
    errors: dict[str, list[str]] = {}
    comment = clean_text(errors, "comment", comment, max_length=PUBLIC_COMMENT_MAX_LENGTH)
    if not answers:
        errors["answers"] = ["Answer at least one question."]
    raise_if(errors)
    now = timezone.now()

    def through_link(evaluations: list[Evaluation]) -> None:
        # Plain SQL: the ORM spent more CPU building this one-row INSERT than PostgreSQL
        # spends running it, on the path that must take hundreds of answers a second.
        with connection.cursor() as cursor:
            cursor.execute(_THROUGH_LINK_SQL, [[e.pk for e in evaluations], link.pk, now])

    return submit_evaluation(
        evaluator=None,
        organization=link.organization,
        touch_point_id=link.touch_point_id,
        source=Source.CUSTOMER_SURVEY,
        observed_at=now,
        answers=[AnswerInput(criterion_id=pk, value=value) for pk, value in answers.items()],
        site_id=link.site_id,
        comment=comment,
        also_store=through_link,
    )
