"""The 403 page: inside /admin/ it is a desk page (header, navigation, a way back), elsewhere
Django's own answer, as before.

Wired as `handler403` in accessportal/urls.py. It only renders: whoever raised
PermissionDenied has already decided.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views import defaults

TEMPLATE = "admin/403.html"


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not request.path.startswith(reverse("admin:index")):
        return defaults.permission_denied(request, exception)
    user = getattr(request, "user", None)
    if user is None or not user.is_active or not user.is_staff:
        # Admin views send visitors without staff rights to the login page themselves; a 403
        # here (CSRF middleware and the like) gets the plain answer, no navigation to leak.
        return HttpResponseForbidden("Forbidden")
    detail = str(exception) if exception is not None and str(exception) else ""
    context = {
        **admin.site.each_context(request),
        "title": "You may not do this",
        "detail": detail,
    }
    response = TemplateResponse(request, TEMPLATE, context, status=403)
    return response.render()
