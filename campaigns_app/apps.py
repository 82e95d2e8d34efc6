from django.apps import AppConfig


class CampaignsAppConfig(AppConfig):
    """Access reviews (recertification campaigns) of standing role memberships."""

    name = "campaigns_app"
    verbose_name = "Access reviews"
    default_auto_field = "django.db.models.BigAutoField"
