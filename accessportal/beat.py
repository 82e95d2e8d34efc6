"""Celery beat's scheduler with a Redis broker: celery-redbeat, whose Redis lock makes a
second beat a standby (settings "Beat lock"; docs/deploy.md "Several machines"), made to
ride out a Redis outage, and the loss of Redis's data, as the worker does.

What celery-redbeat 2.4 does not do, and this subclass adds:
- it takes the lock once, from the `beat_init` signal (a Redis error there is logged with
  a traceback and the beat never sends): here the lock is taken in the first tick, and
  waited for again whenever it was lost;
- it ends beat on the first Redis error of a tick: here the tick is tried again one loop
  interval later;
- it writes the schedule (CELERY_BEAT_SCHEDULE) to Redis once, at start-up, and never
  again: a Redis restarted without its data, FLUSHDB, a failover to an empty replica or an
  eviction left it with nothing to send, for ever. Here the schedule is written again after
  every lock acquisition and whenever its keys are missing (a beat started while Redis is
  down writes it once Redis answers);
- it checks the lock once per tick: a beat paused (SIGSTOP, a frozen VM) after that check
  and resumed after another beat took over would still send. Here the lock is extended,
  which fails unless this beat still holds it, right before each task is sent.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

from celery.signals import beat_init
from redbeat.schedulers import RedBeatScheduler, acquire_distributed_beat_lock, get_redis
from redis.exceptions import ConnectionError, LockNotOwnedError, TimeoutError

logger = logging.getLogger("celery.beat")

UNREACHABLE = (ConnectionError, TimeoutError)

# The lock is taken in LockedScheduler.tick instead (module docstring).
beat_init.disconnect(acquire_distributed_beat_lock)


class LockedScheduler(RedBeatScheduler):
    """RedBeatScheduler that survives Redis going away, coming back empty, and pauses."""

    schedule_loaded = False

    def setup_schedule(self) -> None:
        """Write CELERY_BEAT_SCHEDULE to Redis (last run times that are there are kept);
        if Redis cannot be reached, say so and leave it to the next tick."""
        try:
            super().setup_schedule()
        except UNREACHABLE as exc:
            logger.warning(
                "beat: Redis unreachable (%s) while writing the schedule; trying again in %s s",
                type(exc).__name__,
                self.max_interval,
            )
            self.schedule_loaded = False
        else:
            self.schedule_loaded = True

    def schedule_missing(self) -> bool:
        """True if Redis lost the schedule (restarted empty, flushed, evicted)."""
        conf = self.app.redbeat_conf
        if not conf.schedule:
            return False
        client = get_redis(self.app)
        with client.pipeline() as pipe:
            pipe.exists(conf.statics_key)
            pipe.zcard(conf.schedule_key)
            statics, entries = pipe.execute()
        return not statics or entries < len(conf.schedule)

    def tick(self, *args, **kwargs):
        try:
            if self.lock_key and self.lock is None:
                # Not taken yet, or lost: wait for it (blocking, tried every loop interval)
                # before sending anything, then write the schedule: Redis may have lost it
                # while this beat was a standby.
                acquire_distributed_beat_lock(sender=SimpleNamespace(scheduler=self))
                self.setup_schedule()
            elif not self.schedule_loaded or self.schedule_missing():
                if self.schedule_loaded:
                    logger.warning(
                        "beat: the schedule is missing from Redis (restarted without its "
                        "data, flushed or evicted); writing it again from the settings"
                    )
                self.setup_schedule()
            if not self.schedule_loaded:
                return self.max_interval
            return super().tick(*args, **kwargs)
        except LockNotOwnedError:
            logger.warning(
                "beat: this beat no longer holds the lock (it ran out while Redis was "
                "unreachable or this process was paused); waiting for it again before "
                "sending anything"
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

    def maybe_due(self, entry, **kwargs):
        if self.lock is not None and entry.is_due()[0]:
            # Fencing: fails with LockNotOwnedError (handled in tick) unless this beat
            # still holds the lock, and gives it a full BEAT_LOCK_TIMEOUT to send in.
            self.lock.extend(int(self.lock_timeout))
        return super().maybe_due(entry, **kwargs)

    def close(self) -> None:
        try:
            super().close()
        except UNREACHABLE as exc:  # shutting down during an outage: the lock runs out
            logger.warning("beat: could not release the lock (%s)", type(exc).__name__)
        except LockNotOwnedError:  # it ran out meanwhile, perhaps taken by another beat
            logger.warning("beat: the lock had run out already; nothing to release")
            self.lock = None
