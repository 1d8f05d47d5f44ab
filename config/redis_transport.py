"""kombu's Redis transport with one fix: closing a channel whose connection Celery has
already collected never ends the worker (issue 20).

When the broker goes away while a worker holds unacknowledged messages (acks_late: any
task received and not yet finished), Celery's consumer first collects the connection,
which detaches the transport but can leave the default channel open (its close failed
reading the dead socket), and then closes the connection. Closing that channel requeues
the unacknowledged messages through the detached transport and raises AttributeError
("'NoneType' object has no attribute 'hostname'", in kombu's `_connparams`), which Celery
treats as unrecoverable: the worker exits. tests/faults/test_broker_restarts.py
reproduces it with kombu 5.7.0 and Celery 5.7.0 (the same traceback as celery/kombu#582).

Nothing is lost by not requeuing them from this channel: the Redis transport keeps every
unacknowledged message in the broker's unacked index and delivers it again after the
visibility timeout, and PostgreSQL's stale marks are the record anyway (the sweep
re-queues every stale touch point within SCORING_SWEEP_SECONDS).

Selected by CELERY_BROKER_TRANSPORT in config/settings.py, for every process that talks
to the broker (web, worker, beat).
"""

from __future__ import annotations

import logging

from kombu.transport import redis

log = logging.getLogger(__name__)


class Channel(redis.Channel):
    def close(self) -> None:
        try:
            super().close()
        except AttributeError:
            if self.connection.client is not None:
                raise  # not the collected-connection case: a real bug, let it surface
            log.warning(
                "Broker connection lost with unacknowledged messages; Redis redelivers "
                "them after the visibility timeout and the sweep re-queues stale scores."
            )


class Transport(redis.Transport):
    Channel = Channel
