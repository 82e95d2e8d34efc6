"""Celery beat's scheduler with a Redis broker: celery-redbeat, whose Redis lock makes a
second beat a standby (settings "Beat lock"; docs/deploy.md "Several machines"), made to
ride out a Redis outage as the worker does.

celery-redbeat takes the lock once, at start-up, and ends beat on the first Redis error of a
tick (extending the lock is not retried). Here a tick that cannot reach Redis is tried again
one loop interval later; a lock that ran out meanwhile (an outage longer than
BEAT_LOCK_TIMEOUT, when another beat may have taken over) is waited for again, as a standby
waits, before anything more is sent.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

from redbeat.schedulers import RedBeatScheduler, acquire_distributed_beat_lock
from redis.exceptions import ConnectionError, LockNotOwnedError, TimeoutError

logger = logging.getLogger("celery.beat")

UNREACHABLE = (ConnectionError, TimeoutError)


class LockedScheduler(RedBeatScheduler):
    """RedBeatScheduler that survives Redis going away and coming back."""

    def tick(self, *args, **kwargs):
        try:
            if self.lock_key and self.lock is None:
                # Start-up could not reach Redis to take the lock, or this beat lost it:
                # wait for it (blocking, tried every loop interval) before sending anything.
                acquire_distributed_beat_lock(sender=SimpleNamespace(scheduler=self))
            return super().tick(*args, **kwargs)
        except LockNotOwnedError:
            logger.warning(
                "beat: the lock ran out while Redis was unreachable (BEAT_LOCK_TIMEOUT); "
                "waiting for it again before sending anything"
            )
            self.lock = None
            return 0
        except UNREACHABLE as exc:
            logger.warning(
                "beat: Redis unreachable (%s); trying again in %s s",
                type(exc).__name__,
                self.max_interval,
            )
            return self.max_interval

    def close(self) -> None:
        try:
            super().close()
        except UNREACHABLE as exc:  # shutting down during an outage: the lock runs out
            logger.warning("beat: could not release the lock (%s)", type(exc).__name__)
