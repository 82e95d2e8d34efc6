"""WSGI entry point (gunicorn accessportal.wsgi -c deploy/gunicorn.conf.py).

A settings error is one line on stderr (accessportal/startup.py). gunicorn's own check in
deploy/gunicorn.conf.py stops the master before any worker boots; a worker that meets one
anyway (gunicorn started without that file) exits with 4, gunicorn's "App failed to load",
so that its master stops instead of booting workers for ever. With gunicorn's --preload
(not used here) the application is imported in the master, after the config file's check:
with deploy/gunicorn.conf.py that check has already stopped it with status 2; without it
the master exits 4 too, a status the units restart.
"""

import os
import sys

from django.core.wsgi import get_wsgi_application

from accessportal.startup import EXIT_CONFIGURATION_ERROR, exit_on_configuration_error

GUNICORN_APP_LOAD_ERROR = 4  # gunicorn.arbiter.Arbiter.APP_LOAD_ERROR

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accessportal.settings")
exit_on_configuration_error(
    GUNICORN_APP_LOAD_ERROR if "gunicorn" in sys.modules else EXIT_CONFIGURATION_ERROR
)
application = get_wsgi_application()
