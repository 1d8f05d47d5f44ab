"""manage.py scoring_status [--json]: how far behind the scores are, and why.

The same figures as the admin's "Scoring status" page (scoring.services.scoring_status).
It answers within a couple of seconds even with the broker down, so it is safe to run
while investigating an outage.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError

from scoring import services


def seconds(value: float | None, *, none: str = "never") -> str:
    return none if value is None else f"{value:.1f} s ago"


def moment(value: datetime | None, age: float | None = None) -> str:
    if value is None:
        return "never"
    text = value.isoformat(timespec="seconds")
    return text if age is None else f"{text} ({age:.1f} s ago)"


def lines(status: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows, in the order an operator reads them; shared with the admin."""
    broker_down = status["broker_error"] is not None
    unknown = f"unknown ({status['broker_error']})"
    return [
        ("Stale touch points", str(status["stale_touch_points"])),
        ("Stale journeys (map changed)", str(status["stale_journeys"])),
        ("Oldest stale mark", seconds(status["oldest_stale_seconds"], none="none")),
        (
            f'Queue "{status["queue"]}"',
            unknown if broker_down else f"{status['queue_length']} waiting",
        ),
        (
            "Last sweep",
            unknown
            if broker_down
            else moment(status["last_sweep_at"], status["last_sweep_seconds"]),
        ),
        (
            "Worker heartbeat",
            unknown if broker_down else seconds(status["worker_heartbeat_seconds"]),
        ),
        ("Last recompute", moment(status["last_computed_at"], status["last_computed_seconds"])),
    ]


class Command(BaseCommand):
    help = (
        "Show stale touch points, the oldest stale mark's age, the scoring queue's length, "
        "the last sweep, the newest worker heartbeat and when the last recompute ran."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--json", action="store_true", help="One JSON object, for scripts and monitoring."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            status = services.scoring_status()
        except DatabaseError as error:
            raise CommandError(f"The database did not answer: {error}") from error
        if options["json"]:
            self.stdout.write(json.dumps(status, cls=DjangoJSONEncoder, indent=2))
            return
        width = max(len(label) for label, _ in lines(status))
        for label, value in lines(status):
            self.stdout.write(f"{label + ':':<{width + 1}} {value}")
        if status["broker_error"]:
            self.stderr.write(self.style.WARNING(status["broker_error"]))
