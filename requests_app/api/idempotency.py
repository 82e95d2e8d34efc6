"""`Idempotency-Key` on the API's POSTs: a client that retries after a network error gets
the first answer again instead of doing the work twice (README "Retries (Idempotency-Key)").

A key (1-255 printable ASCII characters) is scoped to the authenticated user: another
user's identical key is independent. The first POST with a key reserves it (a row whose
unique constraint on user and key lets exactly one of several concurrent attempts in), does
the work (the domain service, in its own transaction with its own retries), then stores the
answer: status, body, `Location` and `ETag`, for IDEMPOTENCY_TTL. A retry with the same key,
method, path and body gets that answer again with `Idempotent-Replayed: true`; with another
method, path or body, 422 `idempotency_key_mismatch`. A retry while the first attempt still
runs gets 409 `idempotency_key_in_use` with `Retry-After` (it does not wait: a request
thread is not held for someone else's work).

Stored: every answer below 500 but 409 and 429 (a conflict such as `concurrent_update` or a
rate limit says "try again", and the retry must be able to). A 5xx, or a crash, releases the
key: the retry does the work. A reservation left by a process that died mid-work is taken
over after RUNNING_FOR, so a key is not blocked for the whole day.

Expired keys are purged by the next POST that sends a key (one indexed DELETE), as CLI
sign-ins are (services.cli_login).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from requests_app.models import IdempotencyRecord

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
IDEMPOTENCY_TTL = timedelta(hours=24)
# A reservation older than this whose answer was never stored belongs to a process that
# died: the key is taken over. Longer than any request may run (the server's timeout).
RUNNING_FOR = timedelta(minutes=5)
RETRY_AFTER = "1"
KEPT_HEADERS = ("Location", "ETag")
KEY_PATTERN = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,254}")


def error(status: int, code: str, detail: str, **headers: str) -> Response:
    return Response({"detail": detail, "code": code}, status=status, headers=headers or None)


def is_stored(status: int) -> bool:
    """Which answers a retry replays (module docstring)."""
    return status < 500 and status not in (409, 429)


def fingerprint(method: str, path: str, data: Any) -> str:
    """SHA-256 of the method, the path with its query, and the body as canonical JSON."""
    body = json.dumps(data, cls=JSONEncoder, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{method} {path}\n{body}".encode()).hexdigest()


def _reserve(user, key: str, digest: str) -> tuple[IdempotencyRecord | None, bool]:
    """(the key's row, True) when this call reserved it; (the row, False) when another
    attempt has it. Its own short transaction: the reservation is visible at once."""
    now = timezone.now()
    IdempotencyRecord.objects.filter(expires_at__lte=now).delete()
    for _ in range(3):
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    user=user,
                    key=key,
                    fingerprint=digest,
                    created=now,
                    expires_at=now + IDEMPOTENCY_TTL,
                )
            return record, True
        except IntegrityError:
            pass
        record = IdempotencyRecord.objects.filter(user=user, key=key).first()
        if record is None:
            continue  # released (or purged) meanwhile: try again
        stale = record.status is None and record.created <= now - RUNNING_FOR
        if not stale:
            return record, False
        IdempotencyRecord.objects.filter(pk=record.pk, status=None).delete()
    return None, False  # taken over by another attempt each time: it runs now


def _store(record: IdempotencyRecord, response: Response, keep_body: bool) -> None:
    body = json.loads(json.dumps(response.data, cls=JSONEncoder)) if keep_body else None
    headers = {name: response[name] for name in KEPT_HEADERS if response.has_header(name)}
    try:
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            status=response.status_code, body=body, headers=headers
        )
    except DatabaseError:
        # The work is done and its answer goes out; a retry meets the reservation (409)
        # until RUNNING_FOR has passed.
        logger.exception("could not store the answer for an Idempotency-Key")


def _release(record: IdempotencyRecord) -> None:
    try:
        IdempotencyRecord.objects.filter(pk=record.pk, status=None).delete()
    except DatabaseError:
        logger.exception("could not release an Idempotency-Key")


def run_idempotent(
    request: Request,
    user,
    work: Callable[[], Response],
    *,
    data: Any = None,
    keep_body: bool = True,
) -> Response:
    """`work()` once per (user, Idempotency-Key); without the header, just `work()`.

    `data`: what the body's fingerprint is taken of (default: the parsed body). With
    `keep_body=False` the body is not stored (it holds a secret): a replay runs `work`
    again, which must then be idempotent by nature, and marks its answer replayed.
    """
    key = request.headers.get(HEADER)
    if key is None or not getattr(user, "is_authenticated", False):
        return work()
    if not KEY_PATTERN.fullmatch(key):
        return error(
            400,
            "idempotency_key_invalid",
            f"{HEADER} must be 1 to 255 printable ASCII characters",
        )
    body = request.data if data is None else data
    digest = fingerprint(request.method, request.get_full_path(), body)
    record, reserved = _reserve(user, key, digest)
    if not reserved:
        return _replay(record, digest, work)
    try:
        response = work()
    except BaseException:
        _release(record)
        raise
    if is_stored(response.status_code):
        _store(record, response, keep_body)
    else:
        _release(record)
    return response


def _replay(
    record: IdempotencyRecord | None, digest: str, work: Callable[[], Response]
) -> Response:
    if record is not None and record.fingerprint != digest:
        return error(
            422,
            "idempotency_key_mismatch",
            f"this {HEADER} was used with another method, path or body; use a new key "
            "for a new operation",
        )
    if record is None or record.status is None:
        return error(
            409,
            "idempotency_key_in_use",
            f"a request with this {HEADER} is still being processed; retry after {RETRY_AFTER} s",
            **{"Retry-After": RETRY_AFTER},
        )
    response = work() if record.body is None else Response(record.body, status=record.status)
    for name, value in record.headers.items():
        response[name] = value
    response[REPLAYED] = "true"
    return response


def idempotent(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Make a view's POST handler honour `Idempotency-Key` for the authenticated user. A
    refusal the handler raises (a domain error, bad input) becomes its answer here, through
    the view's exception handler, so that it is stored like any other answer."""

    @functools.wraps(handler)
    def wrapper(view, request: Request, *args, **kwargs) -> Response:
        def work() -> Response:
            try:
                return handler(view, request, *args, **kwargs)
            except Exception as exc:
                return view.handle_exception(exc)  # re-raises what it cannot answer

        return run_idempotent(request, request.user, work)

    return wrapper
