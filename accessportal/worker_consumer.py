"""The workers' Celery consumer: Celery's own, surviving the loss of a Redis broker.

Celery 5.7.0 (the latest release when this was written; kombu 5.7.0) exits with
`Unrecoverable error: AttributeError("'NoneType' object has no attribute 'hostname'")`
when a worker holding unacknowledged messages (every ETA task queued at approval) loses
its Redis connection. `Consumer.on_connection_error_after_connected` first calls
`connection.collect()`, whose close of the channel stops half-way (the broker is gone:
kombu's Redis `Channel.close()` raises on its pending BRPOP or its fanout clean-up before it
marks the channel closed) and which then detaches the transport; 5.7.0 then also calls
`connection.close()`, which closes that half-closed channel again, and its
`restore_unacked` builds a Redis client from the detached transport (`None.hostname`).
Celery 5.6 did not make the second call. `ignore_errors` around it only ignores connection
errors, so the AttributeError reaches the worker and stops it.

The fix: once `collect()` has run, the connection forgets its default channel, so the
second close has nothing to close again. The unacknowledged messages are not lost: Redis
keeps them in its `unacked` hash and kombu redelivers them after the visibility timeout;
meanwhile the periodic sweeps do their work (requests_app/services/jobs.py).
Enabled by CELERY_WORKER_CONSUMER (settings); tests/requests_app/test_broker_faults.py
restarts a real redis-server under a live worker to prove it. Drop this module once a
Celery release survives that test without it.
"""

from __future__ import annotations

from celery.worker.consumer import Consumer as CeleryConsumer


class Consumer(CeleryConsumer):
    """Celery's consumer; a connection lost after connecting is collected only once."""

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        connection = self.connection
        if connection is not None:
            collect = connection.collect

            def collect_once(*args, **kwargs):
                try:
                    return collect(*args, **kwargs)
                finally:
                    # kombu has no public way to drop a channel it could not close.
                    connection._default_channel = None

            connection.collect = collect_once
        super().on_connection_error_after_connected(exc)
