"""The Celery settings reliability depends on are the ones in effect, not just written down."""

from __future__ import annotations

from django.conf import settings

from config.celery import app
from scoring import services, tasks


def test_tasks_are_acknowledged_late_and_rejected_when_the_worker_dies() -> None:
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert tasks.recompute_touch_point.acks_late is True
    assert tasks.recompute_journey.acks_late is True


def test_tasks_have_time_limits() -> None:
    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit


def test_the_redis_transport_uses_the_configured_visibility_timeout() -> None:
    # celery/celery#7651: a configured visibility_timeout has been seen ignored.
    # Ask the live channel for the value it actually uses.
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        assert (
            channel.visibility_timeout
            == settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
        )


def test_publishing_is_bounded_so_a_dead_broker_cannot_hang_a_request() -> None:
    assert app.conf.broker_connection_timeout <= 2
    assert app.conf.task_publish_retry_policy["max_retries"] <= 1
    options = app.conf.broker_transport_options
    assert options["socket_timeout"] <= 2
    assert options["socket_connect_timeout"] <= 2


def test_beat_sweeps_stale_touch_points_every_30_seconds() -> None:
    entry = app.conf.beat_schedule["sweep-stale-touch-points"]
    assert entry["task"] == tasks.sweep_stale.name
    assert entry["schedule"] == settings.SCORING_SWEEP_SECONDS == 30


def test_the_tasks_services_publish_by_name_are_registered_under_that_name() -> None:
    """scoring.services queues recomputes by task name (core.broker.send_task); a renamed
    task would otherwise leave every message unconsumed."""
    for name in (services.RECOMPUTE_TOUCH_POINT, services.RECOMPUTE_JOURNEY):
        assert name in app.tasks
    assert tasks.recompute_touch_point.name == services.RECOMPUTE_TOUCH_POINT
    assert tasks.recompute_journey.name == services.RECOMPUTE_JOURNEY


def test_the_alerts_sender_published_by_name_is_registered_under_that_name() -> None:
    """alerts.services and alerts.delivery kick the sender by name as scoring does."""
    from alerts import services as alert_services
    from alerts import tasks as alert_tasks

    assert alert_services.SEND_PENDING in app.tasks
    assert alert_tasks.send_pending.name == alert_services.SEND_PENDING
