"""{% sso_login_options as sso %}: the configured providers (id, name, login URL) and
whether password sign-in is open to everyone, for the portal and admin login pages."""

from django import template
from django.conf import settings
from django.urls import reverse

register = template.Library()


@register.simple_tag
def sso_login_options() -> dict:
    apps = settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"]
    providers = [
        {
            "id": app["provider_id"],
            "name": app["name"],
            "url": reverse("openid_connect_login", kwargs={"provider_id": app["provider_id"]}),
        }
        for app in apps
    ]
    return {"providers": providers, "local_login": settings.ACCESSPORTAL_LOCAL_LOGIN}
