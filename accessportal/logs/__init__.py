"""Structured logs (README "Logs", docs/operations.md): a request id and the user on every
line of a request, the id carried into the Celery tasks the request queued, secrets
redacted, JSON in production and readable text in development.

`context` holds the current ids (contextvars) and the filter that stamps them on records;
`middleware` sets them per HTTP request; `celery` carries them through task headers;
`redact` masks secret shapes; `config` builds settings.LOGGING; `mail` is the development
email backend that logs a one-line summary instead of printing whole emails.
"""
