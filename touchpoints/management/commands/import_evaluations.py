"""manage.py import_evaluations FILE.csv --organization SLUG --evaluator EMAIL

The format is in docs/import-evaluations.md; the work is in touchpoints.csv_import. Exit
status 1, with every problem by line on stderr, when nothing was imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Organization, User
from core.text import text_argument
from touchpoints import csv_import

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Import evaluations from a CSV file (one row per answer; rows sharing a key are one "
        "evaluation). All or nothing; keys imported before are skipped, so it is safe to rerun."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The CSV file (UTF-8).")
        parser.add_argument(
            "--organization",
            required=True,
            type=text_argument(max_length=60),
            help="Slug of the organization to import into.",
        )
        parser.add_argument(
            "--evaluator",
            required=True,
            type=text_argument(max_length=254),
            help="Email of the manager or evaluator the evaluations are recorded as made by.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        organization = Organization.objects.filter(slug=options["organization"]).first()
        if organization is None:
            raise CommandError(f"No organization has the slug {options['organization']!r}.")
        email = User.objects.normalize_email(options["evaluator"].strip()).lower()
        evaluator = User.objects.filter(email=email).first()
        if evaluator is None:
            raise CommandError(f"No user has the email {email!r}.")
        limit = settings.IMPORT_MAX_BYTES
        try:
            size = path.stat().st_size
            data = path.open("rb")  # read as a stream, line by line, never whole
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
        if size > limit:
            data.close()
            raise CommandError(
                f"{path} is {size:,} bytes; the import takes files up to {limit:,} bytes "
                "(IMPORT_MAX_BYTES). Split it and import the parts. Nothing was imported."
            )

        try:
            with data:
                result = csv_import.import_evaluations(
                    data, organization=organization, evaluator=evaluator, progress=self._progress
                )
        except csv_import.ImportFileError as exc:
            raise CommandError(f"{path} {exc} Nothing was imported.") from None
        except csv_import.ImportRefusedError as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            raise CommandError(
                f"Nothing was imported: {exc} in {path}. Correct them and run the command again."
            ) from None
        except ValidationError as exc:
            raise CommandError(f"Nothing was imported: {' '.join(exc.messages)}") from None

        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.imported} evaluations ({result.answers} answers) into "
                f"{organization.slug!r} as {evaluator.email}."
            )
        )
        self.stdout.write(
            f"Already imported: {result.skipped} evaluations ({result.skipped_rows} rows), skipped."
        )

    def _progress(self, done: int, total: int) -> None:
        """A bar on stderr, so stdout stays the summary a script can read."""
        filled = BAR_WIDTH * done // max(total, 1)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stderr.write(
            f"\r[{bar}] {done}/{total} evaluations",
            style_func=str,  # not the error colour stderr gets by default
            ending="\n" if done == total else "",
        )
        self.stderr.flush()
