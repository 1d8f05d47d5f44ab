"""`manage.py load_demo`: load the demo organization once; rerunning it does nothing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from demo.loader import load_demo


class Command(BaseCommand):
    help = (
        "Load the demo organization (three journeys, demo users, 120 days of evaluations). "
        "Does nothing if it is already loaded."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        load_demo(stdout=self.stdout)
