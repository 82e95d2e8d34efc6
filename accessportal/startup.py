"""Start-up of every process: a settings error is one clear line, not a traceback.

manage.py, the WSGI module (gunicorn) and the Celery app call `exit_on_configuration_error`
before anything else reads the settings. When the settings module refuses the environment
(ImproperlyConfigured: a missing CACHE_URL in production, a weak DJANGO_SECRET_KEY...), the
process prints `accessportal: configuration error: <what is wrong>` on stderr and exits
with status 2. Other exceptions (a bug, a missing package) keep their traceback.
"""

from __future__ import annotations

import os
import sys

from django.core.exceptions import ImproperlyConfigured

EXIT_CONFIGURATION_ERROR = 2
PREFIX = "accessportal: configuration error: "


def exit_on_configuration_error(status: int = EXIT_CONFIGURATION_ERROR) -> None:
    """Load the settings now; if they refuse the environment, print one line on stderr and
    exit with `status`. Does nothing when the settings are already loaded."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accessportal.settings")
    from django.conf import settings

    try:
        _ = settings.SECRET_KEY  # the first read imports the settings module
    except ImproperlyConfigured as error:
        message = " ".join(str(error).split())  # one line, whatever the message holds
        print(PREFIX + message, file=sys.stderr, flush=True)
        raise SystemExit(status) from None
