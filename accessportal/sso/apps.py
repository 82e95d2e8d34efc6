from django.apps import AppConfig


class SSOConfig(AppConfig):
    """Listed before allauth in INSTALLED_APPS, so that our templates win over allauth's."""

    name = "accessportal.sso"
    label = "sso"
    verbose_name = "Single sign-on"
