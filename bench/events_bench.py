"""Events benchmark (issue 16: close the loop).

In its own database (touchstone_bench_events), measures:
  (a) fan-out: 10,000 events from the recompute's outbox, in an organization of 100
      members with 10 webhook endpoints that want them, until all are queued: every event
      stored, 1,000,000 feed entries with their email mode, 100,000 webhook deliveries
      committed (the database is the delivery queue) and the senders kicked;
  (b) the recompute's added cost: a journey of 50 touch points recomputed with and without
      the transition check (scoring.transitions.record), in alternation; goal < 5 %.
Emails are not in (a): by default managers hear no event of this kind by email.

Usage: python bench/events_bench.py [--events N] [--runs N] [--fresh]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
DB_NAME = "touchstone_bench_events"
BROKER = os.environ.get(
    "BENCH_BROKER_URL", os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
)
os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
os.environ["CELERY_BROKER_URL"] = BROKER
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

MEMBERS = {"manager": 10, "evaluator": 60, "viewer": 30}
ENDPOINTS = 10
TOUCH_POINTS = 50


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()

    from harness import ensure_database

    ensure_database(DB_NAME, fresh=True)  # the fan-out writes a million rows: start clean

    import django

    django.setup()
    from django.utils import timezone

    from accounts.models import Membership, Organization, User
    from alerts import services
    from alerts.models import Event, Notification, WebhookDelivery, WebhookEndpoint
    from alerts.webhooks import new_secret
    from journeys.models import Journey, Stage
    from scoring import services as scoring_services
    from scoring import transitions
    from scoring.models import ScoreTransition
    from touchpoints.models import Criterion, CriterionVersion, Source, TouchPoint
    from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations

    print(f"load average before: {load_average()}", flush=True)
    org = Organization.objects.create(name="Bench Events", slug="bench-events")
    users = []
    for role, count in MEMBERS.items():
        for i in range(count):
            user = User.objects.create_user(email=f"{role}{i}@bench.test", password=None)
            Membership.objects.create(user=user, organization=org, role=role)
            users.append(user)
    manager = users[0]
    journey = Journey.objects.create(organization=org, name="Bench journey", target=80.0)
    stage = Stage.objects.create(organization=org, journey=journey, name="Only", position=0)
    tps = []
    for i in range(TOUCH_POINTS):
        tp = TouchPoint.objects.create(
            organization=org, journey=journey, stage=stage, name=f"TP {i}", position=i
        )
        criterion = Criterion.objects.create(
            organization=org, touch_point=tp, name="How was it", position=0
        )
        version = CriterionVersion.objects.create(
            criterion=criterion, number=1, kind="scale", scale_size=5
        )
        criterion.current_version = version
        criterion.save(update_fields=["current_version"])
        tps.append((tp, criterion))
    now = timezone.now()
    for batch in range(20):  # 10,000 evaluations through the real write path
        submit_evaluations(
            evaluator=manager,
            organization=org,
            items=[
                EvaluationInput(
                    touch_point_id=tp.pk,
                    source=Source.SUPERVISOR,
                    observed_at=now - timedelta(hours=1 + (batch * 500 + k) % 2000),
                    answers=(AnswerInput(criterion.pk, 1 + (batch + k) % 5),),
                )
                for k, (tp, criterion) in enumerate(tps * 10)
            ],
        )
    for i in range(ENDPOINTS):
        WebhookEndpoint.objects.create(
            organization=org,
            url=f"https://hooks{i}.example.com/touchstone",
            event_types=["weak_link.left"],
            secret=new_secret(),
        )

    # (b) the recompute with and without the transition check, in alternation.
    scoring_services.recompute_journey(journey.pk)  # the first snapshot
    real = transitions.record
    timings: dict[str, list[float]] = {"with": [], "without": []}
    for run in range(args.runs * 2):
        variant = "with" if run % 2 == 0 else "without"
        transitions.record = real if variant == "with" else (lambda *a, **k: 0)  # type: ignore[assignment]
        started = time.perf_counter()
        scoring_services.recompute_journey(journey.pk, full=True)
        timings[variant].append(time.perf_counter() - started)
    transitions.record = real
    with_ms = statistics.median(timings["with"]) * 1000
    without_ms = statistics.median(timings["without"]) * 1000
    added = (with_ms - without_ms) / without_ms * 100
    print(
        f"(b) recompute of {TOUCH_POINTS} touch points, median of {args.runs}: "
        f"{with_ms:.1f} ms with the transition check, {without_ms:.1f} ms without: "
        f"{added:+.1f} % (goal < 5 %)",
        flush=True,
    )

    # (a) fan-out of N events from the outbox.
    ScoreTransition.objects.bulk_create(
        [
            ScoreTransition(
                organization=org,
                journey=journey,
                touch_point=tps[i % TOUCH_POINTS][0],
                kind="weak_link.left",
                figures={
                    "touch_point_name": f"TP {i % TOUCH_POINTS}",
                    "smoothed": 71.0,
                    "target": 80.0,
                },
                at=now,
            )
            for i in range(args.events)
        ],
        batch_size=5000,
    )
    kicks: list[float] = []
    from alerts import tasks

    original_delay = tasks.send_pending.delay
    tasks.send_pending.delay = lambda: kicks.append(time.perf_counter())  # type: ignore[method-assign]
    load_before = load_average()
    started = time.perf_counter()
    recorded = services.drain_outboxes()
    queued_s = time.perf_counter() - started
    tasks.send_pending.delay = original_delay  # type: ignore[method-assign]
    feed = Notification.objects.count()
    deliveries = WebhookDelivery.objects.filter(state="pending").count()
    print(
        f"(a) {recorded:,} events → {feed:,} feed entries and {deliveries:,} webhook deliveries "
        f"queued in {queued_s:.1f} s ({recorded / queued_s:,.0f} events/s; "
        f"{len(kicks)} sender kicks); load average {load_before} before, {load_average()} after",
        flush=True,
    )
    if Event.objects.count() != args.events:
        sys.exit(f"expected {args.events} events, found {Event.objects.count()}")
    results = {
        "events": recorded,
        "members": sum(MEMBERS.values()),
        "endpoints": ENDPOINTS,
        "feed_entries": feed,
        "deliveries": deliveries,
        "fan_out_seconds": round(queued_s, 2),
        "recompute_with_ms": round(with_ms, 2),
        "recompute_without_ms": round(without_ms, 2),
        "recompute_added_percent": round(added, 2),
        "runs": args.runs,
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }
    out = ROOT / "bench" / "results" / "events.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
