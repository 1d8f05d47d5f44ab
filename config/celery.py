"""The Celery app: `celery -A config worker` and `celery -A config beat` start here."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_init

import config.request_id  # noqa: F401  (carries the request id into tasks and their logs)
import scoring.heartbeat  # noqa: F401  (connects the worker heartbeat that /readyz reads)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("touchstone")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Gossip and mingle are off in every worker, however it is started (issue 20). When the
# broker goes away, the consumer restarts its bootsteps with its connection already gone,
# and Gossip's restart can fail on it ("Error on restarting Gossip: AttributeError", the
# path of celery/kombu#582), leaving a channel of the dead connection behind after every
# outage. (The crash that ended workers on a broker restart was elsewhere, in closing a
# channel with unacknowledged messages: config/redis_transport.py.) Touchstone needs
# neither: gossip (worker-to-worker events) serves elections and the logical clock, mingle
# (a start-up sync with the other workers) shares revoked task ids and the clock; no task
# here is revoked, elected or ordered by that clock. The heartbeat stays on: /readyz reads
# it (scoring/heartbeat.py), and it only publishes, so its restart holds no consumer queue.
# Celery has no setting for these two, only worker arguments; the CLI flags in every start
# path say the same (tests/test_worker_start_paths.py checks both).
WORKER_FLAGS = ("--without-gossip", "--without-mingle")


@worker_init.connect
def _without_gossip_and_mingle(sender: Any = None, **kwargs: Any) -> None:
    # `options` is the very dict the worker hands its consumer's bootsteps next.
    sender.options.update(without_gossip=True, without_mingle=True)
