"""allauth's openid_connect provider, hardened.

What stock allauth 65.22 does not do, and this module does (README, "Single sign-on"):
- a `nonce` in every authorization request, kept in allauth's single-use state and compared
  with the ID token's (stock sends none: a replayed ID token was accepted);
- the ID token's signature always verified against the provider's JWKS (stock skips it
  when the token came from the token endpoint), with an allow-list of asymmetric
  algorithms, `iss`, `aud`, `exp`, `iat` and `sub` required, and `azp` checked;
- the discovery document's `issuer` must be the configured issuer;
- discovery and JWKS cached in Django's cache (stock fetches discovery on every sign-in);
- an unreachable provider gives the authentication error page, never a 500.
These override private allauth methods (`_decode_id_token`, `_get_state`): the version is
pinned narrowly in pyproject.toml and tests/identity/test_oidc_browser.py is the tripwire.
"""

from __future__ import annotations

import jwt
import requests
from allauth.account.internal.decorators import login_not_required
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.helpers import render_authentication_error
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.core.cache import cache
from django.http import Http404
from django.utils.crypto import constant_time_compare, get_random_string

CACHE_TTL = 3600  # discovery and JWKS; an unknown key id refetches the JWKS at once
HTTP_TIMEOUT = 5
LEEWAY = 30  # seconds of clock skew tolerated on exp / iat
ALLOWED_ALGS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}


def _get_json(url: str) -> dict:
    try:
        with get_adapter().get_requests_session() as session:
            response = session.get(url, timeout=HTTP_TIMEOUT)
            response.raise_for_status()
            data = response.json()
    except (requests.RequestException, ValueError) as error:
        raise OAuth2Error(f"the identity provider is unreachable ({url}): {error}") from error
    if not isinstance(data, dict):
        raise OAuth2Error(f"the identity provider answered {url} with something not JSON")
    return data


def _cached_json(url: str, *, refresh: bool = False) -> dict:
    key = f"sso:json:{url}"
    data = None if refresh else cache.get(key)
    if data is None:
        data = _get_json(url)
        cache.set(key, data, CACHE_TTL)
    return data


class HardenedOIDCAdapter(OpenIDConnectOAuth2Adapter):
    """Cached discovery, and ID tokens verified in full (module docstring)."""

    expected_nonce: str | None = None

    @property
    def openid_config(self) -> dict:
        if not hasattr(self, "_openid_config"):
            provider = self.get_provider()
            config = _cached_json(provider.server_url)
            issuer = provider.app.settings["server_url"].rstrip("/")
            if str(config.get("issuer", "")).rstrip("/") != issuer:
                raise OAuth2Error(
                    f"the discovery document names issuer {config.get('issuer')!r}, "
                    f"not the configured {issuer!r}"
                )
            self._openid_config = config
        return self._openid_config

    def _signing_key(self, kid: str | None) -> jwt.PyJWK:
        url = self.openid_config["jwks_uri"]
        for refresh in (False, True):  # an unknown kid: refetch once (key rotation)
            for key in _cached_json(url, refresh=refresh).get("keys", []):
                if key.get("use", "sig") == "sig" and (kid is None or key.get("kid") == kid):
                    return jwt.PyJWK(key)
        raise OAuth2Error(f"invalid ID token: no signing key {kid!r} in the provider's JWKS")

    def _decode_id_token(self, app: SocialApp, id_token: str) -> dict:
        try:
            header = jwt.get_unverified_header(id_token)
            alg = header.get("alg")
            offered = self.openid_config.get("id_token_signing_alg_values_supported", ["RS256"])
            if alg not in ALLOWED_ALGS.intersection(offered):
                raise OAuth2Error(f"invalid ID token: signing algorithm {alg!r} not allowed")
            claims = jwt.decode(
                id_token,
                key=self._signing_key(header.get("kid")),
                algorithms=[alg],
                audience=app.client_id,
                issuer=self.openid_config["issuer"],
                leeway=LEEWAY,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except (jwt.PyJWTError, jwt.exceptions.PyJWKError) as error:
            raise OAuth2Error(f"invalid ID token: {error}") from error
        nonce = claims.get("nonce")
        if not (self.expected_nonce and isinstance(nonce, str)) or not constant_time_compare(
            nonce, self.expected_nonce
        ):
            raise OAuth2Error("invalid ID token: its nonce does not belong to this sign-in")
        if isinstance(claims["aud"], list) and claims.get("azp") != app.client_id:
            raise OAuth2Error("invalid ID token: issued to another client (azp)")
        return claims


class HardenedOIDCProvider(OpenIDConnectProvider):
    """Adds a nonce to every authorization request; an unreachable provider gives the
    error page."""

    oauth2_adapter_class = HardenedOIDCAdapter

    def redirect(self, request, process, next_url=None, data=None, **kwargs):
        nonce = get_random_string(43)
        auth_params = kwargs.pop("auth_params", None)
        if auth_params is None:
            auth_params = self.get_auth_params()
        auth_params["nonce"] = nonce
        try:
            return super().redirect(
                request, process, next_url, data, auth_params=auth_params, nonce=nonce, **kwargs
            )
        except (requests.RequestException, OAuth2Error) as error:
            return render_authentication_error(request, self, exception=error)


class HardenedCallbackView(OAuth2CallbackView):
    def _get_state(self, request, provider):
        state, response = super()._get_state(request, provider)  # pops it: single use
        self.adapter.expected_nonce = (state or {}).get("nonce")
        return state, response


def _provider_view(view_class):
    """allauth's view for the provider named in the URL, with our adapter; 404 if unknown."""

    @login_not_required
    def view(request, provider_id):
        try:
            return view_class.adapter_view(HardenedOIDCAdapter(request, provider_id))(request)
        except SocialApp.DoesNotExist:
            raise Http404 from None

    return view


login = _provider_view(OAuth2LoginView)
callback = _provider_view(HardenedCallbackView)
