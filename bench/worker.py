"""The Celery application of the worker `python -m bench provisioning` starts: the
product's application (every task, every queue) plus `bench.noop`, the floor of the
provisioning latency: a task that only records when it ran (a Redis list the benchmark
waits on), published after a commit and run by the same worker from the same queue."""

from __future__ import annotations

import functools
import time

import redis

from accessportal.celery import app

__all__ = ["app", "noop"]


@functools.cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(app.conf.broker_url)


@app.task(name="bench.noop")
def noop(key: str) -> None:
    """Record the wall-clock time this ran at under `key`."""
    _client().rpush(key, repr(time.time()))
