"""The 403 page: inside /admin/ it is a desk page (header, navigation, a way back), elsewhere
Django's own answer, as before.

Wired as `handler403` in accessportal/urls.py. It only renders: whoever raised
PermissionDenied has already decided.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views import defaults

TEMPLATE = "admin/403.html"


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    user = getattr(request, "user", None)
    staff = user is not None and user.is_active and user.is_staff
    if not staff or not request.path.startswith(reverse("admin:index")):
        # Outside /admin/, and for visitors who are not active staff (the admin's own views
        # send those to its login page; a refusal raised for them elsewhere under /admin/
        # shows no desk navigation), Django's own page, as before. CSRF refusals never come
        # here: they go to CSRF_FAILURE_VIEW.
        return defaults.permission_denied(request, exception)
    # The exception's text is not shown: it is written for logs and code, not for people,
    # and may name what the visitor may not see.
    context = {**admin.site.each_context(request), "title": "You may not do this"}
    return TemplateResponse(request, TEMPLATE, context, status=403).render()
