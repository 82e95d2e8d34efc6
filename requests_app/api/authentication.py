"""Token authentication that cannot be made to crash by the header's contents, for both
kinds of API token (requests_app.services.tokens); session authentication whose CSRF
refusal says so in its `code`."""

from __future__ import annotations

import re
from datetime import UTC

from django.utils import timezone
from drf_spectacular.authentication import SessionScheme as SpectacularSessionScheme
from rest_framework import authentication, exceptions

from requests_app.models import ApiToken
from requests_app.services.tokens import SESSION_KEY_PREFIX, digest

# DRF keys: 40 hexadecimal characters (rest_framework.authtoken.models.Token.generate_key).
KEY = re.compile(r"[0-9a-f]{40}")
# Session keys minted by `accessctl login --sso` (tokens.api_token_mint).
SESSION_KEY = re.compile(re.escape(SESSION_KEY_PREFIX) + r"[0-9a-f]{48}")


class TokenExpired(exceptions.AuthenticationFailed):
    default_code = "token_expired"


class CsrfFailed(exceptions.PermissionDenied):
    default_code = "csrf_failed"


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication; a write without a valid CSRF token is refused with
    code `csrf_failed`, not the `not_allowed` of a permission refusal."""

    def enforce_csrf(self, request):
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied as exc:
            raise CsrfFailed(str(exc.detail)) from None


class SessionScheme(SpectacularSessionScheme):
    """The schema's `cookieAuth` for the subclass (drf-spectacular matches the class exactly)."""

    target_class = "requests_app.api.authentication.SessionAuthentication"


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Bearer <key>` or `Token <key>` (DRF's word, which accessctl and older
    scripts send): a personal DRF key, or a session key (hashed in the database; refused
    once expired or revoked). `Bearer` is the keyword the schema declares (an HTTP bearer
    scheme), so a client generated from it authenticates with its defaults. Malformed keys
    are refused before the database: a key with a NUL byte reached PostgreSQL, which refuses
    NUL in text, a 500 (DataError) instead of 401. Anything that is not a key is answered
    like an unknown one.
    Inactive owners are refused with DRF's "User inactive or deleted." either way.
    """

    keyword = "Bearer"
    KEYWORDS = (b"bearer", b"token")

    def authenticate(self, request):
        words = authentication.get_authorization_header(request).split()
        if not words or words[0].lower() not in self.KEYWORDS:
            return None  # not ours: another scheme (or none) decides
        if len(words) != 2:
            raise exceptions.AuthenticationFailed(
                f"Invalid token header: write `{self.keyword} <key>`, one key without spaces."
            )
        try:
            key = words[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        return self.authenticate_credentials(key)

    def authenticate_credentials(self, key):
        if SESSION_KEY.fullmatch(key):
            return self._session(key)
        if not KEY.fullmatch(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)

    def _session(self, key):
        token = ApiToken.objects.select_related("user").filter(key_hash=digest(key)).first()
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(
                "Token revoked: sign in again with `accessctl login --sso`.", code="token_revoked"
            )
        if token.expires_at <= timezone.now():
            raise TokenExpired(
                "Token expired: your session ended at "
                f"{token.expires_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}; sign in again with "
                "`accessctl login --sso`."
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return token.user, token
