"""The keys that sign access credentials, for the security team: read-only.

Kid, algorithm, status and windows only; the sealed private key is not a field here (it is
read back only by the signing service). Rotation and retirement are `manage.py
credential_keys rotate|retire`, audited; the page is for seeing which key signs now and
which ones the JWKS still publishes. Visible to holders of `view_signingkey` (and
superusers), not to every staff member.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone

from requests_app.admin.base import ReadOnlyAdmin
from requests_app.credential_models import SigningKey

PERMISSION = "requests_app.view_signingkey"


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = ("kid", "alg", "status", "created", "signs_from", "signs_until", "retired_at")
    list_filter = ("alg",)
    fields = ("kid", "alg", "status", "public_jwk", "created", "signs_from", "signs_until",
              "retired_at")  # fmt: skip
    readonly_fields = fields
    search_fields = ("kid",)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.has_perm(PERMISSION)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_active and request.user.has_perm(PERMISSION)

    @admin.display(description="status")
    def status(self, key: SigningKey) -> str:
        return key.status_at(timezone.now())
