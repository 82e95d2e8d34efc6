"""Django's password change pages, inside the portal's navigation."""

from __future__ import annotations

from django.contrib.auth import views as auth_views

from requests_app.portal.selectors import reviewer_info


class PortalNavMixin:
    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["reviewer"] = reviewer_info(self.request.user)
        return context


class PasswordChangeView(PortalNavMixin, auth_views.PasswordChangeView):
    pass


class PasswordChangeDoneView(PortalNavMixin, auth_views.PasswordChangeDoneView):
    pass
