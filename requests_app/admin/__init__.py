"""Django admin of requests_app, one module per concern (the lead merges the others in)."""

from requests_app.admin import outbox  # noqa: F401
