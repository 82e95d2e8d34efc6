"""allauth's openid_connect provider, hardened (provider.py); urls.py is imported by allauth
as `<package of provider_class>.urls`."""
