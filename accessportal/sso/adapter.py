"""allauth's hook at every OpenID Connect sign-in, first and later: `pre_social_login`
hands the verified claims to `accounts.sso_sign_in` and turns a refusal into the error page.
allauth's own signup (its form, email lookups) is never reached: when this hook returns,
the account exists."""

from __future__ import annotations

import logging

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.providers.base import AuthProcess

from accessportal.kernel.errors import DomainError, NotAllowed
from accessportal.sso.accounts import sso_sign_in
from accessportal.sso.views import sign_in_refused

logger = logging.getLogger(__name__)
SESSION_BACKEND = "accessportal.sso.backends.SSOSessionBackend"


def verified_claims(sociallogin) -> dict:
    """The ID token's claims (signature, issuer, audience, nonce and expiry checked by
    oidc/provider.py), with userinfo's where a provider is configured to fetch it."""
    data = sociallogin.account.extra_data or {}
    return {**data.get("id_token", {}), **data.get("userinfo", {})}


class PortalSocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin):
        return False  # accounts are made by pre_social_login, never by allauth's signup

    def pre_social_login(self, request, sociallogin):
        provider = sociallogin.account.provider
        try:
            if sociallogin.state.get("process", AuthProcess.LOGIN) != AuthProcess.LOGIN:
                raise NotAllowed("only signing in is supported (no account connecting)")
            account = sso_sign_in(
                provider=provider,
                uid=sociallogin.account.uid,
                claims=verified_claims(sociallogin),
                extra_data=sociallogin.account.extra_data,
            )
        except DomainError as error:
            logger.warning("SSO sign-in through %s refused: %s", provider, error.message)
            raise ImmediateHttpResponse(sign_in_refused(request, provider, error)) from None
        sociallogin.account = account
        sociallogin.user = account.user
        sociallogin.user.backend = SESSION_BACKEND

    def on_authentication_error(
        self, request, provider, error=None, exception=None, extra_context=None
    ):
        logger.warning(
            "SSO sign-in through %s failed: %s %s",
            getattr(provider, "id", provider),
            error,
            exception,
        )
