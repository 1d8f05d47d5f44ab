"""manage.py recompute_scores [--organization SLUG] [--rescore] [--async]"""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Organization
from core.ids import parse_id
from core.text import text_argument
from scoring import services, tasks


class Command(BaseCommand):
    help = "Recompute every score snapshot from the stored evaluations, with a progress bar."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--organization",
            type=text_argument(max_length=60),
            help="Only this organization (slug or id).",
        )
        parser.add_argument(
            "--rescore",
            action="store_true",
            help="Re-derive every stored answer and evaluation score first (after a change of method).",
        )
        parser.add_argument(
            "--async",
            dest="run_async",
            action="store_true",
            help="Queue the recompute for a Celery worker instead of running it here.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        org_id = None
        if options["organization"]:
            ref = options["organization"]
            ref_id = parse_id(ref)
            org = Organization.objects.filter(slug=ref).first() or (
                Organization.objects.filter(pk=ref_id).first() if ref_id else None
            )
            if org is None:
                raise CommandError(f"No organization {ref!r} (give its slug or id).")
            org_id = org.pk
        if options["run_async"]:
            tasks.recompute_all.delay(org_id, options["rescore"])
            self.stdout.write("Queued a full recompute for the workers.")
            return
        started = time.monotonic()

        def progress(done: int, total: int) -> None:
            width = 30
            filled = width * done // max(total, 1)
            bar = "#" * filled + "-" * (width - filled)
            end = "\n" if done == total else ""
            self.stdout.write(f"\r[{bar}] {done}/{total} journeys", ending=end)
            sys.stdout.flush()

        count = services.recompute_all(
            organization_id=org_id, rescore=options["rescore"], progress=progress
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Recomputed {count} journeys in {time.monotonic() - started:.1f} s."
            )
        )
