#!/bin/sh
# The container's processes (docs/deploy.md, "Containers"): the guide's commands, chosen by
# the first argument; further arguments are passed on (`worker -Q notify`).
#   web      gunicorn accessportal.wsgi -c deploy/gunicorn.conf.py
#   worker   celery -A accessportal worker --concurrency=4
#   beat     celery -A accessportal beat
#   migrate  python manage.py migrate
#   manage   python manage.py ARGS (createsuperuser, apply_policies FILE, ...)
# Anything else runs as given.
set -eu
# Metrics files of the servers' processes (docs/operations.md, "Several processes"); set
# for web and worker only, so that `manage ...` run beside them adds nothing to theirs.
metrics="${PROMETHEUS_MULTIPROC_DIR:-/run/accessportal/metrics}"
command="${1:-web}"
[ "$#" -gt 0 ] && shift
case "$command" in
    web) export PROMETHEUS_MULTIPROC_DIR="$metrics"; exec gunicorn accessportal.wsgi -c deploy/gunicorn.conf.py "$@" ;;
    worker) export PROMETHEUS_MULTIPROC_DIR="$metrics"; exec celery -A accessportal worker --concurrency=4 "$@" ;;
    beat) exec celery -A accessportal beat "$@" ;;
    migrate) exec python manage.py migrate "$@" ;;
    manage) exec python manage.py "$@" ;;
    *) exec "$command" "$@" ;;
esac
