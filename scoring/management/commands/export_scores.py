"""manage.py export_scores --journey ID [--format csv|json] [--output FILE]

The file goes to stdout (or --output) alone, so it can be piped; what was exported, and
how fresh it is, goes to stderr.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from journeys.models import Journey
from scoring import export, selectors

FORMATS = {"csv": export.journey_csv, "json": export.journey_json}


class Command(BaseCommand):
    help = (
        "Export a journey's scores (journey score, and every touch point in map order with "
        "its status, trend and weak-link rank) as CSV or JSON."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--journey", type=int, required=True, help="The journey's id.")
        parser.add_argument("--format", choices=sorted(FORMATS), default="csv")
        parser.add_argument("--output", type=Path, help="Write to this file instead of stdout.")

    def handle(self, *args: Any, **options: Any) -> None:
        journey = (
            Journey.objects.select_related("organization").filter(pk=options["journey"]).first()
        )
        if journey is None:
            raise CommandError(f"No journey has the id {options['journey']}.")
        scores = selectors.journey_scores(journey)
        text = FORMATS[options["format"]](scores)
        output: Path | None = options["output"]
        if output is None:
            self.stdout.write(text, ending="")
        else:
            try:
                # newline="" keeps the CSV's CRLF record ends as they are on every platform.
                with output.open("w", encoding="utf-8", newline="") as file:
                    file.write(text)
            except OSError as exc:
                raise CommandError(f"Cannot write {output}: {exc.strerror}.") from None
        self.stderr.write(self._summary(scores, output))

    @staticmethod
    def _summary(scores: selectors.JourneyScores, output: Path | None) -> str:
        score = "no score yet" if scores.score is None else f"journey score {scores.score:.1f}"
        fresh = (
            f"computed {scores.computed_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
            if scores.computed_at
            else "never computed: run manage.py recompute_scores"
        )
        pending = "; newer evaluations are still being scored" if scores.pending else ""
        where = f" to {output}" if output else ""
        return (
            f"Exported {len(scores.touch_points)} touch points of {scores.journey.name!r}"
            f"{where} ({score}, {fresh}{pending})."
        )
