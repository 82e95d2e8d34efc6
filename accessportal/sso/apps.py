from django.apps import AppConfig


class SSOConfig(AppConfig):
    """Listed before allauth in INSTALLED_APPS, so that our templates win over allauth's."""

    name = "accessportal.sso"
    label = "sso"
    verbose_name = "Single sign-on"

    def ready(self) -> None:
        # The admin's own ready() (first in INSTALLED_APPS) has imported allauth's admin
        # modules by now; replace what they registered (admin_setup.py says why).
        from accessportal.sso.admin_setup import admin_setup

        admin_setup()
