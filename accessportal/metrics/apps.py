"""The metrics app: its system check, and the Celery worker's exporter signals."""

from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "accessportal.metrics"
    label = "accessportal_metrics"
    verbose_name = "Metrics"

    def ready(self) -> None:
        # Celery's worker signals are connected here rather than in accessportal/celery.py:
        # the worker loads Django (and so this app) before it sends `worker_init`.
        from accessportal.metrics import checks, observe, registry, worker  # noqa: F401

        registry.multiprocess_dir_ensure()
        observe.series_at_zero()
        worker.connect_signals()
