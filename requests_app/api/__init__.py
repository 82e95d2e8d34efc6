"""The REST API (`/api/v1/`): thin views over the domain services and selectors.

Layout: `serializers/` (input and output shapes), `views/` (one module per resource),
`permissions.py`, `filters.py`, `pagination.py`, `parsers.py`, `exceptions.py` (the one
error handler), `examples.py` (OpenAPI examples), `urls.py`.
"""
