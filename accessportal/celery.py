"""The Celery application: broker and settings come from Django settings (CELERY_*).

Queues by kind of work, so each can get its own workers when the load grows:
`access` (expiry, activation, end, warnings; the default), `notify` (outbox dispatch: slow
remote calls), `sync` (recomputing permission rows) and `provision` (calls to provisioning
targets and the reconciler: slow remote calls). A worker started without `-Q` consumes all
four. The periodic sweeps are in settings.CELERY_BEAT_SCHEDULE.
"""

import os
from pathlib import Path

from celery import Celery, signals
from kombu import Queue

from accessportal.logs import celery as log_context
from accessportal.startup import exit_on_configuration_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accessportal.settings")

QUEUES = ("access", "notify", "sync", "provision")

app = Celery("accessportal")
app.config_from_object("django.conf:settings", namespace="CELERY")


def _redbeat_conf() -> dict:
    """celery-redbeat's settings (the beat lock: settings.REDBEAT_CONF, Redis brokers only),
    which it reads by their own names, outside the CELERY_ namespace."""
    from django.conf import settings

    return getattr(settings, "REDBEAT_CONF", {})


app.add_defaults(_redbeat_conf)
app.conf.task_queues = [Queue(name) for name in QUEUES]
app.conf.task_default_queue = "access"
app.conf.task_routes = {
    "requests_app.tasks.dispatch_*": {"queue": "notify"},
    "requests_app.tasks.resync_*": {"queue": "sync"},
    "requests_app.tasks.provision_*": {"queue": "provision"},
    # Review rules may wait on PagerDuty or Opsgenie (HTTP), like deliveries do.
    "requests_app.tasks.apply_*review_rules": {"queue": "notify"},
}
app.autodiscover_tasks()

# Logs (accessportal/logs/celery.py): the request id travels in each message's headers and
# is on every line the worker logs for that task; the worker logs through settings.LOGGING.
signals.before_task_publish.connect(log_context.on_before_task_publish, weak=False)
signals.task_prerun.connect(log_context.on_task_prerun, weak=False)
signals.task_postrun.connect(log_context.on_task_postrun, weak=False)
signals.setup_logging.connect(log_context.on_setup_logging, weak=False)


@app.on_configure.connect
def _settings_or_exit(sender, **kwargs):
    """Sent before the app reads Django's settings (`celery -A accessportal worker`, beat,
    report...): a settings error is one line and exit status 2, not Celery's traceback.
    In a web process or a test the settings are loaded already and this does nothing."""
    exit_on_configuration_error()


@app.on_after_configure.connect
def _prepare_folders(sender, **kwargs):
    """The development broker (kombu's filesystem transport) and beat's schedule file need
    their folders."""
    folders = [Path(sender.conf.beat_schedule_filename).parent]
    if str(sender.conf.broker_url).startswith("filesystem://"):
        options = sender.conf.broker_transport_options or {}
        for key in ("data_folder_in", "data_folder_out", "control_folder", "processed_folder"):
            if options.get(key):
                folders.append(Path(options[key]))
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
