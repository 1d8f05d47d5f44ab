"""Reads for customer feedback: the public form of a link, a touch point's links with
their response counts, and how many customer voices (responses via a link) a score holds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from django.db import connection
from django.db.models import Count, Max, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Organization
from feedback.models import FeedbackLink, FeedbackQuestion, FeedbackResponse, FeedbackSetup
from feedback.services import ASKABLE_KINDS
from touchpoints.models import CriterionKind, Evaluation, TouchPoint

TOKEN_MAX_LENGTH = 43
PER_DAY_DAYS = 7


@dataclass(frozen=True)
class Choice:
    value: str  # what the form posts
    number: float  # what the evaluation stores
    label: str  # shown on the button ("" for yes/no: the template translates Yes/No)


@dataclass(frozen=True)
class PublicQuestion:
    criterion_id: int
    text: str
    kind: str
    choices: tuple[Choice, ...]

    @property
    def field(self) -> str:
        return f"q{self.criterion_id}"


@dataclass(frozen=True)
class PublicForm:
    link: FeedbackLink
    questions: tuple[PublicQuestion, ...]
    ask_comment: bool


def _valid_token(token: str) -> bool:
    return bool(token) and len(token) <= TOKEN_MAX_LENGTH and token.isascii()


def link_for_token(token: str) -> FeedbackLink | None:
    """The link behind a public URL, with what its page shows; None for any unknown token."""
    if not _valid_token(token):
        return None
    return (
        FeedbackLink.objects.select_related("touch_point", "organization", "site")
        .filter(token=token)
        .first()
    )


# The public page's one query: the link's own columns, its touch point's rubric version and
# its set-up (when the questions last changed, whether a comment is asked). The ORM would
# spend more CPU building this statement than PostgreSQL spends answering it, on the one
# path that must take hundreds of answers a second.
_LINK_COLUMNS = [f.attname for f in FeedbackLink._meta.concrete_fields]
_FORM_SQL = f"""
    SELECT {", ".join(f"l.{f.column}" for f in FeedbackLink._meta.concrete_fields)},
           tp.rubric_version, s.updated_at, s.ask_comment
    FROM {FeedbackLink._meta.db_table} l
    JOIN {TouchPoint._meta.db_table} tp ON tp.id = l.touch_point_id
    LEFT JOIN {FeedbackSetup._meta.db_table} s ON s.touch_point_id = l.touch_point_id
    WHERE l.token = %s
"""  # noqa: S608 (model table and column names; the token is a parameter)


def form_for_token(token: str) -> PublicForm | None:
    """The link behind a public URL and the questions its page asks, in one query; None for
    any unknown token. The link's related rows (touch point, site, organization) load only
    if a page reads them; its organization comes with nothing but its id."""
    if not _valid_token(token):
        return None
    with connection.cursor() as cursor:
        cursor.execute(_FORM_SQL, [token])
        row = cursor.fetchone()
    if row is None:
        return None
    count = len(_LINK_COLUMNS)
    link = FeedbackLink.from_db(connection.alias, _LINK_COLUMNS, row[:count])
    rubric_version, setup_changed_at, ask_comment = row[count:]
    link.organization = Organization.from_db(connection.alias, ["id"], [link.organization_id])
    questions = _questions(link.touch_point_id, rubric_version, setup_changed_at)
    return PublicForm(link, questions, bool(ask_comment))


@lru_cache(maxsize=1024)
def _questions(
    touch_point_id: int, rubric_version: int, setup_changed_at: datetime | None
) -> tuple[PublicQuestion, ...]:
    """The set-up's questions for criteria still askable, built once per process for each
    state of the touch point: every change of what a page asks moves the key. A criterion's
    rubric (kind, scale, labels) or the set of active criteria changing moves the touch
    point's rubric version (touchpoints.services._rubric_changed); new questions or texts
    save the set-up (save_questions), which moves its updated_at. Nothing is invalidated
    by hand, so there is nothing to forget, in any process."""
    questions: list[PublicQuestion] = []
    for q in (
        FeedbackQuestion.objects.filter(
            touch_point_id=touch_point_id, criterion__archived_at__isnull=True
        )
        .select_related("criterion__current_version")
        .order_by("position", "id")
    ):
        version = q.criterion.current_version
        if version is None or version.kind not in ASKABLE_KINDS:
            continue
        if version.kind == CriterionKind.YES_NO:
            choices: tuple[Choice, ...] = (Choice("1", 1.0, ""), Choice("0", 0.0, ""))
        else:
            size = version.scale_size or 5
            labels = list(version.scale_labels or [])
            choices = tuple(
                Choice(str(n), float(n), labels[n - 1] if len(labels) == size else "")
                for n in range(1, size + 1)
            )
        questions.append(PublicQuestion(q.criterion_id, q.text, version.kind, choices))
    return tuple(questions)


# --- Managers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkRow:
    link: FeedbackLink
    responses: int
    last_at: datetime | None


@dataclass(frozen=True)
class DayCount:
    day: date
    n: int


@dataclass(frozen=True)
class TouchPointFeedback:
    questions: list[FeedbackQuestion]
    ask_comment: bool
    links: list[LinkRow]
    days: list[DayCount]  # the last PER_DAY_DAYS days, oldest first, zeros included
    total: int


def touch_point_feedback(touch_point: TouchPoint) -> TouchPointFeedback:
    """What the touch point page and the set-up page show: questions, links with their
    response counts, and responses per day (UTC days) over the last week."""
    links = list(
        FeedbackLink.objects.filter(touch_point_id=touch_point.pk)
        .select_related("site")
        .annotate(n=Count("responses"), last_at=Max("responses__received_at"))
    )
    today = timezone.now().date()
    since = today - timedelta(days=PER_DAY_DAYS - 1)
    per_day = dict(
        FeedbackResponse.objects.filter(
            link__touch_point_id=touch_point.pk,
            received_at__date__gte=since,
        )
        .annotate(day=TruncDate("received_at"))
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    setup = FeedbackSetup.objects.filter(touch_point_id=touch_point.pk).first()
    return TouchPointFeedback(
        questions=list(
            FeedbackQuestion.objects.filter(touch_point_id=touch_point.pk).select_related(
                "criterion"
            )
        ),
        ask_comment=bool(setup and setup.ask_comment),
        links=[LinkRow(link, link.n, link.last_at) for link in links],
        days=[
            DayCount(since + timedelta(days=i), per_day.get(since + timedelta(days=i), 0))
            for i in range(PER_DAY_DAYS)
        ],
        total=sum(link.n for link in links),
    )


def _voices(since: datetime | None, until: datetime | None) -> Q:
    """Scored evaluations that came through a feedback link, observed in the window."""
    q = Q(feedback_response__isnull=False, score__isnull=False)
    if since is not None:
        q &= Q(observed_at__gte=since)
    if until is not None:
        q &= Q(observed_at__lte=until)
    return q


def customer_voices(
    included: Mapping[int, datetime | None], *, since: datetime | None, until: datetime | None
) -> dict[int, int]:
    """Per touch point: how many of the scored evaluations in the window are customers'
    own answers through a feedback link (the "customer voices" a score includes).

    `included` maps each touch point to the last submission its score includes (None:
    it includes none): an answer that arrived after the score was computed is not yet in
    it, even when the window (whole days) already covers its moment."""
    which = Q(pk__in=[])
    for touch_point_id, last in included.items():
        if last is not None:
            which |= Q(touch_point_id=touch_point_id, submitted_at__lte=last)
    rows = (
        Evaluation.objects.filter(_voices(since, until), which)
        .values("touch_point_id")
        .annotate(n=Count("pk"))
        .values_list("touch_point_id", "n")
    )
    return dict(rows)


def customer_voices_by_site(
    touch_point_id: int,
    *,
    since: datetime | None,
    until: datetime | None,
    last_included: datetime | None,
) -> dict[int | None, int]:
    """Customer voices of one touch point's score, per site (None: no site); as in
    customer_voices, only submissions up to the last one the score includes."""
    if last_included is None:
        return {}
    rows = (
        Evaluation.objects.filter(
            _voices(since, until), touch_point_id=touch_point_id, submitted_at__lte=last_included
        )
        .values("site_id")
        .annotate(n=Count("pk"))
        .values_list("site_id", "n")
    )
    return dict(rows)
