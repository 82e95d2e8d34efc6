"""Mounted at /sso/: allauth's URLs (the providers' login and callback views come from
oidc/urls.py), with its own login page and signup/connection pages replaced."""

from django.urls import include, path
from django.views.generic import RedirectView

from accessportal.sso import views

urlpatterns = [
    path("login/", RedirectView.as_view(pattern_name="login", query_string=True)),
    path("3rdparty/signup/", views.not_offered),
    path("3rdparty/", views.not_offered),
    path("", include("allauth.urls")),
]
