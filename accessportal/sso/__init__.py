"""Single sign-on with OpenID Connect: a surface (README, "Single sign-on").

django-allauth's `openid_connect` provider, hardened (`oidc/`), one button per configured
provider (`config.py` parses ACCESSPORTAL_OIDC_PROVIDERS), and one hook at every sign-in
(`adapter.py` → `accounts.sso_sign_in`) that finds or creates the account and applies the
provider's `sso_mapping` through policies_app.services.identity.
"""
