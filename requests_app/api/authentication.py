"""Token authentication that cannot be made to crash by the header's contents."""

from __future__ import annotations

import re

from rest_framework import authentication, exceptions

# DRF keys: 40 hexadecimal characters (rest_framework.authtoken.models.Token.generate_key).
KEY = re.compile(r"[0-9a-f]{40}")


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's `Authorization: Token <key>`, refusing malformed keys before the database.

    A key with a NUL byte reached PostgreSQL, which refuses NUL in text: a 500 (DataError)
    instead of 401. Anything that is not a key is answered like an unknown one.
    """

    def authenticate_credentials(self, key):
        if not KEY.fullmatch(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)
