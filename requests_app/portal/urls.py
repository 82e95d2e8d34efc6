"""Portal URLs (namespace "portal") and the sign-in pages (Django's auth views)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from requests_app.portal.views import (
    access_reviews,
    account,
    break_glass,
    cli_login,
    extend,
    home,
    my_requests,
    new_request,
    review_links,
    reviews,
    tokens,
)

app_name = "portal"

urlpatterns = [
    path("", home.home, name="home"),
    path("access/", home.access_panel, name="access-panel"),
    path("request/", new_request.new_request, name="request-new"),
    path("request/resources/", new_request.resource_search, name="resource-search"),
    path("requests/", my_requests.request_list, name="request-list"),
    path("requests/<uuid:pk>/", my_requests.request_detail, name="request-detail"),
    path("requests/<uuid:pk>/withdraw/", my_requests.request_withdraw, name="request-withdraw"),
    path("requests/<uuid:pk>/end/", my_requests.request_end, name="request-end"),
    path("requests/<uuid:pk>/review/", my_requests.request_review, name="request-review"),
    path("requests/<uuid:pk>/extend/", extend.request_extend, name="request-extend"),
    path("requests/<uuid:pk>/ratify/", break_glass.request_ratify, name="request-ratify"),
    path("reviews/", reviews.inbox, name="inbox"),
    path("reviews/access/", access_reviews.my_reviews, name="my-reviews"),
    path("reviews/access/<int:pk>/", access_reviews.my_review_decide, name="my-review-decide"),
    path("reviews/link/<str:token>/", review_links.review_link, name="review-link"),
    path("tokens/", tokens.tokens, name="tokens"),
    path("tokens/revoke/", tokens.token_revoke, name="token-revoke"),
    path("tokens/sessions/<int:pk>/revoke/", tokens.session_revoke, name="session-revoke"),
    path("cli/login/", cli_login.cli_login, name="cli-login"),
    path("cli/device/", cli_login.cli_device, name="cli-device"),
]

# Included without a namespace: Django's auth views reverse these names themselves.
auth_urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password/",
        account.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "password/done/",
        account.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
]
