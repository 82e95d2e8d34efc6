"""The provider's URLs under the allauth mount (/sso/): allauth imports this module because
it sits in the package of SOCIALACCOUNT_PROVIDERS["openid_connect"]["provider_class"].

Callback to register at the identity provider: https://<host>/sso/oidc/<id>/login/callback/
"""

from django.urls import include, path

from accessportal.sso.oidc import provider

urlpatterns = [
    path(
        "oidc/<str:provider_id>/",
        include(
            [
                path("login/", provider.login, name="openid_connect_login"),
                path("login/callback/", provider.callback, name="openid_connect_callback"),
            ]
        ),
    )
]
