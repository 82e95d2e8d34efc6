"""The SCIM 2.0 service provider at /scim/v2/ (django-scim2), for identity providers that
push users and groups (Okta, Entra ID). Only the protocol lives here: auth (a bearer token
per provider), scoping, filters and PATCH parsing; every write calls a domain service
(policies_app.services.directory, requests_app.services.directory_users)."""
