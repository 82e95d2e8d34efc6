"""What the admin shows of allauth: identity links, read-only.

Providers come from the environment (not allauth's SocialApp table), tokens are not stored
and emails are not verified here, so those admin pages are removed. A link (provider,
subject → user) is made only by a sign-in (accounts.py), audited; the admin shows it
and does not edit it. Called from SSOConfig.ready(), after the admin has loaded allauth's
admin modules.
"""

from __future__ import annotations

from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
from django.contrib import admin

from policies_app.admin_directory import ReadOnlyModelAdmin


class SocialAccountReadOnly(ReadOnlyModelAdmin):
    list_display = ("user", "provider", "uid", "last_login", "date_joined")
    list_filter = ("provider",)
    search_fields = ("user__username", "uid")
    readonly_fields = ("user", "provider", "uid", "last_login", "date_joined", "extra_data")


def admin_setup() -> None:
    for model in (SocialApp, SocialToken, EmailAddress, SocialAccount):
        if admin.site.is_registered(model):
            admin.site.unregister(model)
    admin.site.register(SocialAccount, SocialAccountReadOnly)
