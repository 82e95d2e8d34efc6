"""Settings for benchmark runs: the product's settings, as deployed, plus one bare view.

DEBUG is off (DEBUG keeps every SQL query in memory and would distort the figures), and
database connections are kept open across HTTP requests (`CONN_MAX_AGE`), as a production
deployment behind gunicorn would. The URL conf adds `/api/v1/bench/bare/`, the floor that
HTTP figures are compared with.
"""

from accessportal.envconfig import env_int
from accessportal.settings import *  # noqa: F403
from accessportal.settings import DATABASES, LOGGING

DEBUG = False
ROOT_URLCONF = "bench.urls"
DATABASES["default"].setdefault("CONN_MAX_AGE", 0)
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("BENCH_CONN_MAX_AGE", 600)
LOGGING["root"]["level"] = "WARNING"
LOGGING.setdefault("loggers", {})["django.request"] = {"level": "ERROR"}
