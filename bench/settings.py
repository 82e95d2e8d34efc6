"""Settings for benchmark runs: the product's settings, as deployed, plus one bare view.

DEBUG is off (DEBUG keeps every SQL query in memory and would distort the figures), and
database connections are kept open across HTTP requests (`CONN_MAX_AGE`), as a production
deployment behind gunicorn would. The URL conf adds `/api/v1/bench/bare/`, the floor that
HTTP figures are compared with.
"""

import os

# Read by accessportal.settings: API rate limits far above what one machine can serve (the
# throttle itself still runs on every call, as in production), and Celery's in-memory
# transport: work queued after commit is published (its cost is measured) but nobody
# consumes it, so a benchmark neither fills a shared broker nor writes a file per message.
os.environ.setdefault("API_THROTTLE_USER", "100000000/minute")
os.environ.setdefault("API_THROTTLE_ANON", "100000000/minute")
os.environ.setdefault("CELERY_BROKER_URL", os.environ.get("BENCH_CELERY_BROKER_URL", "memory://"))

from accessportal.envconfig import env_int  # noqa: E402
from accessportal.settings import *  # noqa: E402, F403
from accessportal.settings import DATABASES, LOGGING  # noqa: E402

DEBUG = False
ROOT_URLCONF = "bench.urls"
DATABASES["default"].setdefault("CONN_MAX_AGE", 0)
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("BENCH_CONN_MAX_AGE", 600)
LOGGING["root"]["level"] = "WARNING"
LOGGING.setdefault("loggers", {})["django.request"] = {"level": "ERROR"}
# Celery's own lines stay at INFO: the provisioning benchmark's worker (which logs through
# these settings, accessportal/logs/celery.py) announces " ready." and "succeeded in"
# there, and the benchmark reads both from its log.
LOGGING["loggers"]["celery"] = {"level": "INFO"}
