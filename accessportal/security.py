"""Settings-time security rules (imported by settings, so nothing here may import models).

See docs/SECURITY.md for the threats these answer.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

# Django's own deploy check uses the same three rules (security.W009).
MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_UNIQUE = 5
GENERATE_HINT = 'generate one with: python -c "import secrets; print(secrets.token_urlsafe(50))"'


def production_secret_key(key: str, dev_key_file: Path) -> str:
    """The secret key for production, or ImproperlyConfigured saying what is wrong:
    missing, too short or too repetitive, or a development key."""
    if not key:
        raise ImproperlyConfigured(
            f"ACCESSPORTAL_MODE=production needs DJANGO_SECRET_KEY, a random value of at "
            f"least {MIN_SECRET_KEY_LENGTH} characters; {GENERATE_HINT}"
        )
    if len(key) < MIN_SECRET_KEY_LENGTH or len(set(key)) < MIN_SECRET_KEY_UNIQUE:
        raise ImproperlyConfigured(
            f"DJANGO_SECRET_KEY is too weak for production ({len(key)} characters, "
            f"{len(set(key))} distinct; at least {MIN_SECRET_KEY_LENGTH} and "
            f"{MIN_SECRET_KEY_UNIQUE} needed); {GENERATE_HINT}"
        )
    try:
        dev_key = dev_key_file.read_text().strip() if dev_key_file.exists() else None
    except OSError as error:
        raise ImproperlyConfigured(
            f"cannot read {dev_key_file} ({error.strerror}): a development key file in a "
            f"production checkout; delete it (production uses DJANGO_SECRET_KEY only)"
        ) from None
    if key.startswith("django-insecure-") or key == dev_key:
        raise ImproperlyConfigured(
            f"DJANGO_SECRET_KEY is a development key; production needs its own; {GENERATE_HINT}"
        )
    return key


def development_secret_key(path: Path) -> str:
    """The development key kept in `path` (made on first use), or ImproperlyConfigured when
    the file cannot be made or read (e.g. made by root, mode 600, and read by another user)."""
    try:
        if not path.exists():
            path.write_text(secrets.token_urlsafe(50))
            path.chmod(0o600)
        return path.read_text().strip()
    except OSError as error:
        raise ImproperlyConfigured(
            f"cannot read or create the development key file {path} ({error.strerror}): "
            f"set DJANGO_SECRET_KEY, or give the file to the user running this"
        ) from None
