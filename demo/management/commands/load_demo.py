"""`manage.py load_demo`: load the demo organization once; rerunning it does nothing.

Refuses to run with DEBUG off unless `--force`: the demo users share a published
password, so loading them into a production database opens it to anyone who read the
README.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.loader import load_demo


class Command(BaseCommand):
    help = (
        "Load the demo organization (three journeys, demo users, 120 days of evaluations). "
        "Does nothing if it is already loaded. Refuses with DEBUG off unless --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Load it even with DEBUG off (the demo users' password is public).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "DEBUG is off: this looks like production, and the demo users share a "
                "published password. Run with --force if you really mean it."
            )
        load_demo(stdout=self.stdout)
