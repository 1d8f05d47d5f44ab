"""The Celery app: `celery -A config worker` and `celery -A config beat` start here."""

import os

from celery import Celery

import config.request_id  # noqa: F401  (carries the request id into tasks and their logs)
import scoring.heartbeat  # noqa: F401  (connects the worker heartbeat that /readyz reads)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("touchstone")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
