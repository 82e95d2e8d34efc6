"""Access Portal: just-in-time access requests for Django."""

# The Celery app is loaded with Django so that @shared_task binds to it (Celery's Django
# integration guide).
from accessportal.celery import app as celery_app

__all__ = ["celery_app"]
