"""Evaluations from a CSV file (manage.py import_evaluations), the format a survey tool exports.

One row per answer; the rows that share a `key` are one evaluation (docs/import-evaluations.md).
This module only reads the file and turns text into the service's inputs: whether an
evaluation is valid is decided by touchpoints.services.submit_evaluations, exactly as for
the API and the browser form, and its item errors are mapped back to file lines here.

All or nothing: every chunk goes through the service inside one transaction, and one bad
row anywhere rolls the whole file back, after every problem in it has been collected.
Safe to run twice: keys this organization already has are skipped, not refused.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

from django.db import transaction
from rest_framework import serializers

from accounts.models import Organization, User
from core.csv import restore_cell
from touchpoints.evaluation_serializers import ObservedAtField
from touchpoints.models import Evaluation
from touchpoints.services import (
    MAX_BATCH,
    AnswerInput,
    BatchValidationError,
    EvaluationInput,
    submit_evaluations,
)

__all__ = [
    "COLUMNS",
    "EVALUATION_COLUMNS",
    "REQUIRED_COLUMNS",
    "ImportFileError",
    "ImportRefusedError",
    "ImportResult",
    "Row",
    "RowError",
    "import_evaluations",
    "read_rows",
]

#: Repeated on every row of an evaluation (they describe the evaluation, not the answer).
EVALUATION_COLUMNS = ("touch_point", "source", "observed_at", "site", "comment")
COLUMNS = ("key", *EVALUATION_COLUMNS, "criterion", "value")
REQUIRED_COLUMNS = ("key", "touch_point", "source", "observed_at", "criterion", "value")
#: A `value` cell meaning "not applicable" (compared lower-case).
NOT_APPLICABLE = frozenset({"", "na", "n/a"})
NOT_A_NUMBER = "Must be a number like 4 or 12.5, or empty or NA for not applicable."

_ID = re.compile(r"\d{1,19}", re.ASCII)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_ANSWER_FIELD = re.compile(r"answers\[(\d+)\]\.(\w+)")
#: The service's field names that are not the file's column names.
_FIELD_COLUMNS = {"client_key": "key", "answers": "criterion"}
#: Keys looked up per query when finding what was imported before.
_KEY_LOOKUP_CHUNK = 5000

Progress = Callable[[int, int], None]


class ImportFileError(Exception):
    """The file as a whole cannot be read (not UTF-8, empty, wrong columns)."""


@dataclass(frozen=True, order=True)
class RowError:
    """One problem, where the person fixing the file will look for it."""

    line: int  # in the file, the header being line 1
    column: str  # a column name, or "" for the row as a whole
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}, {self.column}" if self.column else f"line {self.line}"
        return f"{where}: {self.message}"


class ImportRefusedError(Exception):
    """Nothing was stored: `errors` lists every problem found, in file order."""

    def __init__(self, errors: Sequence[RowError]):
        self.errors = sorted(set(errors))
        lines = len({e.line for e in self.errors})
        super().__init__(f"{lines} line{'s' if lines != 1 else ''} with errors")


@dataclass(frozen=True)
class ImportResult:
    imported: int  # evaluations stored now
    answers: int  # their answers
    skipped: int  # evaluations whose key was imported before
    skipped_rows: int


@dataclass
class _Evaluation:
    """The rows of one key: where they are in the file, and what goes to the service."""

    key: str
    line: int  # of its first row, where evaluation-level errors are reported
    cells: dict[str, str]
    answer_lines: list[int] = field(default_factory=list)
    answers: list[AnswerInput] = field(default_factory=list)


# --- Reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    line: int  # where the row starts (a quoted comment may span lines)
    cells: dict[str, str]  # by column: stripped, and un-neutralised (core.csv)
    problem: str = ""  # why the row cannot be read; its cells are then empty


def _decoded_lines(stream: BinaryIO) -> Iterator[str]:
    """The file's lines as text, decoded one at a time (the file is never held whole, nor
    a second time as one string); line breaks are kept as written, for quoted comments."""
    for number, raw in enumerate(stream, start=1):
        try:
            # Excel's "CSV UTF-8" starts with a byte order mark.
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {number}). Save it "
                'as UTF-8 ("CSV UTF-8" in Excel, UTF-8 in survey tools) and run the import '
                "again."
            ) from None


def read_rows(data: bytes | BinaryIO) -> Iterator[Row]:
    """Each non-blank row after the header, read from the file as a stream.

    Raises ImportFileError for what makes the whole file unreadable; a row that is wrong
    in itself comes with its `problem`, so every such row can be reported at once.
    """
    stream: BinaryIO = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    # Strict, because a lenient reader turns "x"y into xy and an unclosed quote into one
    # long field, silently.
    reader = csv.reader(_decoded_lines(stream), strict=True)
    next_line = 1
    try:
        header = _header(reader)
        next_line = reader.line_num + 1
        for row in reader:
            line, next_line = next_line, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue  # blank lines, and the all-comma rows spreadsheets leave at the end
            if len(row) != len(header):
                yield Row(line, {}, f"Has {len(row)} fields; the header has {len(header)}.")
                continue
            yield Row(
                line,
                {name: restore_cell(cell.strip()) for name, cell in zip(header, row, strict=True)},
            )
    except csv.Error as exc:
        raise ImportFileError(
            f"cannot be read as CSV in the row that starts on line {next_line}: {exc} (is a "
            'quote left open, or a quoted cell followed by more text? Write " inside a '
            'quoted cell as "".).'
        ) from None


def _header(reader: Any) -> list[str]:
    for row in reader:
        if any(cell.strip() for cell in row):
            break
    else:
        raise ImportFileError(
            f"is empty: expected a header line with the columns {', '.join(COLUMNS)}."
        )
    header = [restore_cell(cell.strip()).lower() for cell in row]
    expected = (
        f"The header must name the columns {', '.join(COLUMNS)} (site and comment may be "
        "left out), in any order, separated by commas."
    )
    if len(header) == 1 and ";" in header[0]:
        # What a spreadsheet set to a comma-decimal locale saves as "CSV".
        raise ImportFileError(
            f"has columns separated by semicolons (line {reader.line_num}). {expected}"
        )
    problems = []
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        problems.append(f"lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        # Refused rather than ignored, so a misspelt "coment" does not lose every comment.
        problems.append(f"has unknown columns {', '.join(repr(n) for n in unknown)}")
    repeated = sorted({name for name in header if header.count(name) > 1 and name in COLUMNS})
    if repeated:
        problems.append(
            f"repeats the column{'s' if len(repeated) > 1 else ''} {', '.join(repeated)}"
        )
    if problems:
        raise ImportFileError(f"{'; '.join(problems)} (line {reader.line_num}). {expected}")
    return header


# --- Text to service inputs ------------------------------------------------------------------------


def _id(text: str) -> Any:
    """An id as an int; anything else as the text, for the service to refuse by field."""
    return int(text) if _ID.fullmatch(text) else text


def _value(text: str) -> Any:
    """A number; None for not applicable; other text as it is, for the service to refuse."""
    if text.lower() in NOT_APPLICABLE:
        return None
    if not _NUMBER.fullmatch(text):
        return text
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:  # more digits than int() converts: the service calls it not finite
        return float("inf")


def _observed_at(text: str) -> datetime | None:
    """Parsed exactly as the API parses it (a time without a zone stays naive, for the
    service to refuse); None if it is not ISO 8601 at all."""
    try:
        parsed: datetime = ObservedAtField().to_internal_value(text)
    except serializers.ValidationError:
        return None
    return parsed


def _group(rows: Iterator[Row]) -> tuple[list[_Evaluation], list[RowError]]:
    """Rows gathered into evaluations by key, in order of first appearance."""
    evaluations: dict[str, _Evaluation] = {}
    errors: list[RowError] = []
    for row in rows:
        line = row.line
        if row.problem:
            errors.append(RowError(line, "", row.problem))
            continue
        cells = {name: row.cells.get(name, "") for name in COLUMNS}
        key = cells["key"]
        if not key:
            errors.append(
                RowError(line, "key", "Required: the rows of one evaluation share a key.")
            )
            continue
        evaluation = evaluations.get(key)
        if evaluation is None:
            evaluation = evaluations[key] = _Evaluation(
                key, line, {name: cells[name] for name in EVALUATION_COLUMNS}
            )
        else:
            errors += [
                RowError(
                    line,
                    name,
                    f"Differs from line {evaluation.line}, the first row of key {key!r}: "
                    f"the rows of one evaluation repeat its {', '.join(EVALUATION_COLUMNS)}.",
                )
                for name in EVALUATION_COLUMNS
                if cells[name] != evaluation.cells[name]
            ]
        evaluation.answer_lines.append(line)
        evaluation.answers.append(
            AnswerInput(criterion_id=_id(cells["criterion"]), value=_value(cells["value"]))
        )
    return list(evaluations.values()), errors


def _item(evaluation: _Evaluation) -> EvaluationInput:
    cells = evaluation.cells
    return EvaluationInput(
        touch_point_id=_id(cells["touch_point"]),
        source=cells["source"],
        observed_at=_observed_at(cells["observed_at"]),
        answers=tuple(evaluation.answers),
        site_id=_id(cells["site"]) if cells["site"] else None,
        comment=cells["comment"],
        client_key=evaluation.key,
    )


def _format_errors(evaluations: Sequence[_Evaluation]) -> list[RowError]:
    """What only the file's format decides: how a date and a number are written. The
    service would refuse these cells too, but in the API's words (null, not NA)."""
    errors = [
        RowError(e.line, "observed_at", str(ObservedAtField.default_error_messages["invalid"]))
        for e in evaluations
        if _observed_at(e.cells["observed_at"]) is None
    ]
    errors += [
        RowError(line, "value", NOT_A_NUMBER)
        for e in evaluations
        for line, answer in zip(e.answer_lines, e.answers, strict=True)
        if isinstance(answer.value, str)
    ]
    return errors


def _row_errors(evaluation: _Evaluation, fields: dict[str, list[str]]) -> list[RowError]:
    """The service's item errors at the file's lines and columns: answers[2].value is the
    value column of the evaluation's third row."""
    errors = []
    for name, messages in fields.items():
        answer = _ANSWER_FIELD.fullmatch(name)
        if answer:
            line, column = evaluation.answer_lines[int(answer[1])], answer[2]
        else:
            line, column = evaluation.line, _FIELD_COLUMNS.get(name, name)
        errors += [RowError(line, column, message) for message in messages]
    return errors


# --- Import --------------------------------------------------------------------------------------


def _imported_keys(organization: Organization, keys: Sequence[str]) -> set[str]:
    # A key with NUL cannot go into a query; the service refuses it by field anyway.
    keys = [key for key in keys if "\x00" not in key]
    found: set[str] = set()
    for start in range(0, len(keys), _KEY_LOOKUP_CHUNK):
        found.update(
            Evaluation.objects.for_organization(organization)
            .filter(client_key__in=keys[start : start + _KEY_LOOKUP_CHUNK])
            .values_list("client_key", flat=True)
        )
    return found


def import_evaluations(
    data: bytes | BinaryIO,
    *,
    organization: Organization,
    evaluator: User,
    progress: Progress | None = None,
    chunk_size: int = MAX_BATCH,
) -> ImportResult:
    """Import a CSV file's evaluations, all or none, as `evaluator`.

    Raises ImportFileError if the file cannot be read, ImportRefusedError with every problem
    by line if any row is wrong (nothing stored), and the service's ValidationError for
    what is wrong with the import as a whole (an evaluator who may not evaluate).
    `progress(done, total)` is called as evaluations are checked and stored.
    """
    if not 1 <= chunk_size <= MAX_BATCH:
        raise ValueError(f"chunk_size must be from 1 to {MAX_BATCH}")
    evaluations, errors = _group(read_rows(data))
    if not evaluations and not errors:
        raise ImportFileError("has no rows after the header: nothing to import.")
    imported_before = _imported_keys(organization, [e.key for e in evaluations])
    pending = [e for e in evaluations if e.key not in imported_before]
    skipped = [e for e in evaluations if e.key in imported_before]
    errors += _format_errors(pending)
    _store(
        pending,
        organization=organization,
        evaluator=evaluator,
        errors=errors,
        progress=progress,
        chunk_size=chunk_size,
    )
    return ImportResult(
        imported=len(pending),
        answers=sum(len(e.answers) for e in pending),
        skipped=len(skipped),
        skipped_rows=sum(len(e.answers) for e in skipped),
    )


def _store(
    pending: Sequence[_Evaluation],
    *,
    organization: Organization,
    evaluator: User,
    errors: list[RowError],
    progress: Progress | None,
    chunk_size: int,
) -> None:
    """Submit every chunk in one transaction; if anything anywhere was wrong, roll it all
    back, having still checked every chunk so the report is complete."""
    found = {(e.line, e.column) for e in errors}
    with transaction.atomic():
        for start in range(0, len(pending), chunk_size):
            chunk = pending[start : start + chunk_size]
            try:
                # A savepoint per chunk: a refused chunk leaves the outer transaction usable.
                with transaction.atomic():
                    submit_evaluations(
                        evaluator=evaluator,
                        organization=organization,
                        items=[_item(e) for e in chunk],
                    )
            except BatchValidationError as exc:
                for index, fields in exc.item_errors.items():
                    # A format error already names the cell; the service's guess adds nothing.
                    errors += [
                        e
                        for e in _row_errors(chunk[index], fields)
                        if (e.line, e.column) not in found
                    ]
            if progress is not None:
                progress(min(start + chunk_size, len(pending)), len(pending))
        if errors:
            raise ImportRefusedError(errors)
