"""The Celery application: broker and settings come from Django settings (CELERY_*).

Queues by kind of work, so each can get its own workers when the load grows:
`access` (expiry, activation, end, warnings; the default), `notify` (outbox dispatch: slow
remote calls), `sync` (recomputing permission rows) and `provision` (calls to provisioning
targets and the reconciler: slow remote calls). A worker started without `-Q` consumes all
four. The periodic sweeps are in settings.CELERY_BEAT_SCHEDULE.
"""

import os
from pathlib import Path

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accessportal.settings")

QUEUES = ("access", "notify", "sync", "provision")

app = Celery("accessportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in QUEUES]
app.conf.task_default_queue = "access"
app.conf.task_routes = {
    "requests_app.tasks.dispatch_*": {"queue": "notify"},
    "requests_app.tasks.resync_*": {"queue": "sync"},
    "requests_app.tasks.provision_*": {"queue": "provision"},
}
app.autodiscover_tasks()


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
