"""The evaluation form: it parses what the phone sent into the service's input, nothing more.

Shape only (a number is a number, a choice was made); every rule about what an evaluation
may contain (the touch point exists in this organization, the scale range, critical
criteria answered, the site, the comment length, the observed time) lives in
`touchpoints.services.submit_evaluations`, whose messages are shown beside the fields here.
"""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from django import forms
from django.utils import timezone

from core.text import TextFormField
from touchpoints.models import COMMENT_MAX_LENGTH, Criterion, CriterionKind, Site, Source
from touchpoints.services import AnswerInput

NOT_APPLICABLE = "na"
ANSWER_REQUIRED = "Choose an answer, or Not applicable."
VALUE_REQUIRED = "Give the measured value, or choose Not applicable."
# datetime-local inputs send minutes, and seconds when the phone offers them.
DATETIME_LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    number: str = ""  # the scale point shown big on a labelled button


@dataclass(frozen=True)
class SummaryItem:
    anchor: str
    text: str


@dataclass
class Question:
    """One criterion as the template draws it: a fieldset with its inputs and errors."""

    criterion: Criterion
    field: forms.BoundField
    not_applicable: forms.BoundField | None  # numeric only; radios carry "na" as a choice
    choices: list[Choice]

    @property
    def kind(self) -> str:
        return self.criterion.rubric.kind

    @property
    def unit(self) -> str:
        return self.criterion.rubric.unit

    @property
    def critical(self) -> bool:
        return self.criterion.rubric.critical

    @property
    def labelled(self) -> bool:
        """Scale points with words get a full-width button each; bare numbers share a row."""
        return any(c.number for c in self.choices)

    @property
    def errors(self) -> list[str]:
        return [str(error) for error in self.field.errors]


def answer_choices(criterion: Criterion) -> list[Choice]:
    """The buttons of a scale or yes/no criterion; a critical one offers no Not applicable,
    since the service refuses it there."""
    rubric = criterion.rubric
    choices: list[Choice] = []
    if rubric.kind == CriterionKind.SCALE:
        size = rubric.scale_size or 5
        labels = rubric.scale_labels or []
        for point in range(1, size + 1):
            label = labels[point - 1] if len(labels) == size else ""
            choices.append(
                Choice(str(point), label, str(point)) if label else Choice(str(point), str(point))
            )
    elif rubric.kind == CriterionKind.YES_NO:
        choices = [Choice("1", "Yes"), Choice("0", "No")]
    if choices and not rubric.critical:
        choices.append(Choice(NOT_APPLICABLE, "Not applicable"))
    return choices


class AnswerField(TextFormField):
    """A radio group's value: "na" (not applicable) or a number for the service to judge."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(error_messages={"required": ANSWER_REQUIRED}, **kwargs)

    def to_python(self, value: Any) -> float | str | None:  # type: ignore[override]
        text = super().to_python(value)
        if text is None or text in self.empty_values:
            return None
        if text == NOT_APPLICABLE:
            return NOT_APPLICABLE
        try:
            return float(text)
        except ValueError:
            raise forms.ValidationError(ANSWER_REQUIRED, code="invalid") from None


def parse_zone(name: str) -> tzinfo:
    """The phone's time zone as its browser named it; UTC when unknown or not sent."""
    try:
        return zoneinfo.ZoneInfo(name) if name else timezone.get_default_timezone()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return timezone.get_default_timezone()


class EvaluationForm(forms.Form):
    """An evaluation of one touch point; built with that touch point's active criteria."""

    touch_point = forms.IntegerField(
        widget=forms.HiddenInput,
        error_messages={"required": "Choose a touch point.", "invalid": "Choose a touch point."},
    )
    client_key = TextFormField(widget=forms.HiddenInput, required=False, max_length=200)
    # Filled by evaluate.js with the browser's IANA zone, so "observed at" means local time.
    tz = TextFormField(widget=forms.HiddenInput, required=False, max_length=64)
    source = forms.ChoiceField(
        choices=Source.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose where this evaluation comes from."},
    )
    # A plain number: whether the site exists in this organization is the service's call.
    site = forms.IntegerField(required=False, widget=forms.Select)
    comment = TextFormField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": COMMENT_MAX_LENGTH}),
    )
    observed_at = forms.DateTimeField(
        required=False,
        input_formats=DATETIME_LOCAL_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"invalid": "Give a date and time, or leave it empty for now."},
    )

    def __init__(
        self,
        *args: Any,
        criteria: Sequence[Criterion] = (),
        sites: Sequence[Site] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.criteria = list(criteria)
        self.fields["site"].widget.choices = [("", "No particular site")] + [
            (site.pk, site.name) for site in sites
        ]
        for criterion in self.criteria:
            if criterion.rubric.kind == CriterionKind.NUMERIC:
                self.fields[self.answer_name(criterion)] = forms.FloatField(
                    required=False,
                    widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
                    error_messages={"invalid": "Enter a number, like 42 or 3.5."},
                )
                self.fields[self.na_name(criterion)] = forms.BooleanField(required=False)
            else:
                self.fields[self.answer_name(criterion)] = AnswerField()

    @staticmethod
    def answer_name(criterion: Criterion) -> str:
        return f"answer_{criterion.pk}"

    @staticmethod
    def na_name(criterion: Criterion) -> str:
        return f"na_{criterion.pk}"

    def questions(self) -> Iterator[Question]:
        for criterion in self.criteria:
            numeric = criterion.rubric.kind == CriterionKind.NUMERIC
            yield Question(
                criterion=criterion,
                field=self[self.answer_name(criterion)],
                not_applicable=self[self.na_name(criterion)] if numeric else None,
                choices=answer_choices(criterion),
            )

    def clean_client_key(self) -> str | None:
        return self.cleaned_data.get("client_key") or None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for criterion in self.criteria:
            name = self.answer_name(criterion)
            if criterion.rubric.kind != CriterionKind.NUMERIC or name in self.errors:
                continue
            if not cleaned.get(self.na_name(criterion)) and cleaned.get(name) is None:
                self.add_error(name, VALUE_REQUIRED)
        return cleaned

    def answers(self) -> list[AnswerInput]:
        """The service's answers, in criterion order (its `answers[i]` errors map back)."""
        result = []
        for criterion in self.criteria:
            value = self.cleaned_data[self.answer_name(criterion)]
            if value == NOT_APPLICABLE or self.cleaned_data.get(self.na_name(criterion)):
                value = None
            result.append(AnswerInput(criterion_id=criterion.pk, value=value))
        return result

    def observed_time(self, now: datetime) -> datetime:
        """When it was observed: the given local time in the phone's zone, or now."""
        value: datetime | None = self.cleaned_data.get("observed_at")
        if value is None:
            return now
        naive = timezone.make_naive(value) if timezone.is_aware(value) else value
        return timezone.make_aware(naive, parse_zone(self.cleaned_data.get("tz") or ""))

    def error_summary(self) -> list[SummaryItem]:
        """Every error, in the order of the page, each linking to the control to fix."""
        items = [SummaryItem("criteria-errors", str(error)) for error in self.non_field_errors()]
        for name, (label, anchor) in self._anchors().items():
            messages = [str(error) for error in self.errors.get(name, [])]
            items.extend(
                SummaryItem(anchor, text if text.startswith(label) else f"{label}: {text}")
                for text in messages
            )
        return items

    def _anchors(self) -> dict[str, tuple[str, str]]:
        """Field name → (what the user calls it, the id of the control the link focuses)."""
        anchors = {"touch_point": ("Touch point", "touch_point-error")}
        for question in self.questions():
            name = question.field.name
            first = f"id_{name}" if question.kind == CriterionKind.NUMERIC else f"id_{name}_0"
            anchors[name] = (question.criterion.name, first)
        anchors.update(
            source=("Source", "id_source_0"),
            site=("Site", "id_site"),
            comment=("Comment", "id_comment"),
            observed_at=("Observed at", "id_observed_at"),
            client_key=("Submission", "id_comment"),
        )
        return anchors

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        """Put the service's refusals beside the fields they are about."""
        for key, messages in errors.items():
            field: str | None = key if key in self.fields else None
            prefix = ""
            if key.startswith("answers["):
                # answers() sent one answer per criterion, in order: index i is criteria[i].
                criterion = self.criteria[int(key[len("answers[") : key.index("]")])]
                field, prefix = self.answer_name(criterion), f"{criterion.name}: "
            for message in messages:
                self.add_error(field, message.removeprefix(prefix))


def new_client_key() -> str:
    """A fresh key per form shown, so a double-tapped Submit stores one evaluation."""
    return uuid.uuid4().hex
