import pytest


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """These tests log in with real passwords many times; PBKDF2's cost is not under test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
