"""Publishing to the broker without ever holding up the caller for long.

A hung broker (accepting connections, answering nothing) makes every publish wait out the
Redis client's socket timeouts and retries: 10 s and more each, measured 40 s for a create
and an approval. Web requests must not wait for that: messages are handed to one publisher
thread per process, and the caller waits for its message at most `WORKER_PUBLISH_TIMEOUT`
seconds. While a publish is overdue, later callers do not wait at all, and a message that
finds the queue full is dropped. Nothing is lost by dropping or by a failed publish: the
work is recorded in the database and the periodic sweeps do it (requests_app/services/jobs.py).
"""

from __future__ import annotations

import contextvars
import logging
import os
import queue
import threading
from collections.abc import Callable

from django.conf import settings

logger = logging.getLogger(__name__)

QUEUE_SIZE = 1000  # messages waiting for a stalled broker; beyond that, left to the sweeps

_lock = threading.Lock()
_publisher: _Publisher | None = None


class _Publisher:
    """One daemon thread sending, in order, the publishes queued in this process."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self.stalled = threading.Event()  # set while a publish is overdue
        self.thread = threading.Thread(target=self._run, name="broker-publisher", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            publish, done, what = self.queue.get()
            try:
                publish()
            except Exception:  # any broker failure: the sweep does the work later
                logger.warning(
                    "could not queue %s; the periodic sweep will do it", what, exc_info=True
                )
            finally:
                done.set()
                if self.queue.empty():
                    self.stalled.clear()

    def submit(self, publish: Callable[[], object], what: str, timeout: float) -> bool:
        done = threading.Event()
        try:
            self.queue.put_nowait((publish, done, what))
        except queue.Full:
            logger.warning("broker not answering; %s is left to the periodic sweep", what)
            return False
        if self.stalled.is_set():
            return False
        if done.wait(timeout):
            return True
        self.stalled.set()
        logger.warning("broker slow to answer; %s is queued in the background", what)
        return False


def _current() -> _Publisher:
    global _publisher
    with _lock:
        # A forked child (gunicorn, billiard) inherits the object but not the thread.
        if _publisher is None or _publisher.pid != os.getpid() or not _publisher.thread.is_alive():
            _publisher = _Publisher()
        return _publisher


def publish_with_deadline(publish: Callable[[], object], what: str) -> bool:
    """Run `publish()` on the publisher thread; wait for it at most WORKER_PUBLISH_TIMEOUT s.

    Returns whether it was done in time (it may still be done later, or never: callers rely
    on the sweeps, never on the publish). The publish runs in the caller's context, so the
    message carries the caller's request id (accessportal/logs/celery.py)."""
    context = contextvars.copy_context()
    return _current().submit(lambda: context.run(publish), what, settings.WORKER_PUBLISH_TIMEOUT)


def publisher_drain(timeout: float) -> bool:
    """Wait up to `timeout` s for this process's queued publishes; whether they are done.

    For callers about to change the broker configuration (tests switching brokers)."""
    with _lock:
        publisher = _publisher
    if publisher is None or publisher.pid != os.getpid() or not publisher.thread.is_alive():
        return True
    done = threading.Event()
    publisher.queue.put((lambda: None, done, "drain"), timeout=timeout)
    return done.wait(timeout)
