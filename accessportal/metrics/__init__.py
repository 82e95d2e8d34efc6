"""Prometheus metrics (docs/operations.md, "Metrics").

`observe` holds the counters and histograms the services record into; `collectors` the
state gauges read from the database when the web's /metrics is scraped (`views`);
`registry` gathers what the processes recorded (prometheus_client's multiprocess mode under
gunicorn and Celery); `worker` serves a Celery worker's own /metrics; `auth` is the one
access rule both endpoints apply.
"""
