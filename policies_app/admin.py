"""Django admin of policies_app, one module per concern (the lead merges the others in)."""

from policies_app import admin_notifications  # noqa: F401
