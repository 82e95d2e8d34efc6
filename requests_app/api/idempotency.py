"""`Idempotency-Key` on the API's POSTs: a client that retries after a network error gets
the first answer again instead of doing the work twice (README "Retries (Idempotency-Key)").

A key (1-255 printable ASCII characters) is scoped to the authenticated user: another
user's identical key is independent. The first POST with a key reserves it (a row whose
unique constraint on user and key lets exactly one of several concurrent attempts in), does
the work (the domain service, in its own transaction with its own retries), then stores the
answer: status, body, `Location` and `ETag`, for IDEMPOTENCY_TTL. A retry with the same key,
method, path, body and If-Match gets that answer again with `Idempotent-Replayed: true`;
with another, 422 `idempotency_key_mismatch`. A retry while the first attempt still
runs gets 409 `idempotency_key_in_use` with `Retry-After` (it does not wait: a request
thread is not held for someone else's work).

Stored: every answer below 500 but 409, 412 and 429 (a conflict such as
`concurrent_update`, a stale `If-Match` or a rate limit says "look again and retry", and the
retry must be able to).

Whether the work was done is known from the record itself: a POST whose handler says how to
answer again (`Committed`) has its claim marked "committed" (the answer's status and the
resource's id) by its service, in the service's own transaction
(`accessportal.kernel.locking.before_service_commit`), so the mark commits iff the work does.
A claim is released (the retry does the work) only when it has no mark: a refusal that is not
stored, a 5xx or a crash before the commit, a conflict rolled back. With the mark but no
answer stored (a 5xx or a crash after the commit, an answer that could not be stored), a
retry answers from the committed resource as it is now, with its original status, and never
does the work again. A claim without the mark left by a process that died is taken over
after RUNNING_FOR, so a key is not blocked for the whole day; a takeover makes the late
process's mark fail, which rolls its work back. Dry runs commit nothing, mark nothing, and
may be redone.

Expired keys are purged by the next POST that sends a key (at most PURGE_BATCH rows a call,
by the expiry index), as CLI sign-ins are (services.cli_login).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from accessportal.kernel.errors import ConcurrentUpdate
from accessportal.kernel.locking import before_service_commit
from requests_app.api.exceptions import error_body
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
# 1 to 255 printable ASCII characters, not starting with a space (the schema states it too).
KEY_SCHEMA_PATTERN = r"^[!-~][ -~]{0,254}$"
KEY_PATTERN = re.compile(KEY_SCHEMA_PATTERN)
PURGE_BATCH = 500
NOT_STORED = frozenset({409, 412, 429})


@dataclass(frozen=True)
class Committed:
    """How a POST's service marks its claim, and how a retry answers from what it committed.

    `resource(result)`: the id to answer from, taken from the service's result; None when
    the service committed nothing (a dry run). `answer(resource, status)`: the answer built
    from that resource as it is now. One outermost service per handler."""

    status: int
    resource: Callable[[Any], str | None]
    answer: Callable[[str, int], Response]


def error(status: int, code: str, detail: str, **headers: str) -> Response:
    """A refusal in the one error shape; bad input (400, 422) carries its message under
    `errors`, as exceptions.domain_error_body does for a domain error without a field."""
    bad_input = {"non_field_errors": [detail]} if status in (400, 422) else None
    return Response(
        error_body(detail, code, errors=bad_input), status=status, headers=headers or None
    )


def is_stored(status: int) -> bool:
    """Which answers a retry replays (module docstring)."""
    return status < 500 and status not in NOT_STORED


def fingerprint(method: str, path: str, data: Any) -> str:
    """SHA-256 of the method, the path with its query, and the body as canonical JSON."""
    body = json.dumps(data, cls=JSONEncoder, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{method} {path}\n{body}".encode()).hexdigest()


def _reserve(user, key: str, digest: str) -> tuple[IdempotencyRecord | None, bool]:
    """(the key's row, True) when this call reserved it; (the row, False) when another
    attempt has it. Its own short transaction: the reservation is visible at once."""
    now = timezone.now()
    expired = IdempotencyRecord.objects.filter(expires_at__lte=now).values("pk")
    IdempotencyRecord.objects.filter(pk__in=expired[:PURGE_BATCH]).delete()
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
        if record.expires_at <= now:
            # Past its 24 hours but not purged yet (the purge takes a batch at a time): the
            # key is free, never replayed.
            IdempotencyRecord.objects.filter(pk=record.pk, expires_at__lte=now).delete()
            continue
        stale = (
            record.status is None
            and record.committed_status is None
            and record.created <= now - RUNNING_FOR
        )
        if not stale:
            return record, False
        _release(record)  # unless its work committed meanwhile
    return None, False  # taken over by another attempt each time: it runs now


def _mark(record: IdempotencyRecord, committed: Committed, result: Any) -> None:
    """In the service's transaction, before it ends: the claim says the work committed."""
    resource = committed.resource(result)
    if resource is None:
        return  # nothing is committed (a dry run)
    marked = IdempotencyRecord.objects.filter(pk=record.pk, status=None).update(
        committed_status=committed.status, resource=resource
    )
    if not marked:
        # Taken over as dead (RUNNING_FOR): another attempt owns the key now.
        raise ConcurrentUpdate(
            f"this {HEADER} was given to a retry while this attempt ran too long; nothing was saved"
        )


def _store(record: IdempotencyRecord, response: Response, keep_body: bool) -> None:
    body = json.loads(json.dumps(response.data, cls=JSONEncoder)) if keep_body else None
    headers = {name: response[name] for name in KEPT_HEADERS if response.has_header(name)}
    try:
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            status=response.status_code, body=body, body_kept=keep_body, headers=headers
        )
    except DatabaseError:
        # The answer goes out; a retry answers from the committed resource if the work
        # committed (its mark), else meets the reservation (409) until RUNNING_FOR.
        logger.exception("could not store the answer for an Idempotency-Key")


def _release(record: IdempotencyRecord) -> None:
    """Free the key unless the work committed (its mark, read in the same statement)."""
    try:
        IdempotencyRecord.objects.filter(pk=record.pk, status=None, committed_status=None).delete()
    except DatabaseError:
        # Unknown: the claim stays; a retry answers from the mark, or after RUNNING_FOR
        # takes the key over.
        logger.exception("could not release an Idempotency-Key")


def run_idempotent(
    request: Request,
    user,
    work: Callable[[], Response],
    *,
    data: Any = None,
    keep_body: bool = True,
    committed: Committed | None = None,
) -> Response:
    """`work()` once per (user, Idempotency-Key); without the header, just `work()`.

    `data`: what the body's fingerprint is taken of (default: the parsed body). With
    `keep_body=False` the body is not stored (it holds a secret): a replay runs `work`
    again, which must then be idempotent by nature, and marks its answer replayed.
    `committed`: how the work's service marks the claim and a retry answers from what it
    committed (module docstring); without it the work must be idempotent by nature.
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
    precondition = request.headers.get("If-Match")
    if precondition is not None:
        # The key is bound to the If-Match it came with: a retry with another (after a 400
        # for a malformed one, say) is another operation (422), never the stored answer.
        body = {"body": body, "If-Match": precondition}
    digest = fingerprint(request.method, request.get_full_path(), body)
    record, reserved = _reserve(user, key, digest)
    if not reserved:
        return _replay(record, digest, work, committed)
    marking = (
        before_service_commit(functools.partial(_mark, record, committed))
        if committed is not None
        else contextlib.nullcontext()
    )
    try:
        with marking:
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
    record: IdempotencyRecord | None,
    digest: str,
    work: Callable[[], Response],
    committed: Committed | None,
) -> Response:
    if record is not None and record.fingerprint != digest:
        return error(
            422,
            "idempotency_key_mismatch",
            f"this {HEADER} was used with another method, path, body or If-Match; use a new key "
            "for a new operation",
        )
    done = record is not None and record.status is None and record.committed_status is not None
    if done and committed is not None:
        # The work committed, its answer was lost: the resource as it is now.
        response = committed.answer(record.resource, record.committed_status)
        response[REPLAYED] = "true"
        return response
    if record is None or record.status is None:
        return error(
            409,
            "idempotency_key_in_use",
            f"a request with this {HEADER} is still being processed; retry after {RETRY_AFTER} s",
            **{"Retry-After": RETRY_AFTER},
        )
    response = Response(record.body, status=record.status) if record.body_kept else work()
    for name, value in record.headers.items():
        response[name] = value
    response[REPLAYED] = "true"
    return response


def saved_pk(result: Any) -> str | None:
    """The id of a model instance a service saved; None for an unsaved one (a dry run)."""
    state = getattr(result, "_state", None)
    if state is None or state.adding:
        return None
    return str(result.pk)


def idempotent(status: int) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Make a view's POST handler honour `Idempotency-Key` for the authenticated user. A
    refusal the handler raises (a domain error, bad input) becomes its answer here, through
    the view's exception handler, so that it is stored like any other answer.

    The handler calls one service, which returns the model instance its answer shows;
    `status` is the answer's status when that service committed. The view's
    `answer_committed(resource, status)` builds the answer again from that instance."""

    def decorate(handler: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(handler)
        def wrapper(view, request: Request, *args, **kwargs) -> Response:
            def work() -> Response:
                try:
                    return handler(view, request, *args, **kwargs)
                except Exception as exc:
                    return view.handle_exception(exc)  # re-raises what it cannot answer

            def answer(resource: str, code: int) -> Response:
                try:
                    return view.answer_committed(resource, code)
                except Exception as exc:
                    return view.handle_exception(exc)

            committed = Committed(status=status, resource=saved_pk, answer=answer)
            return run_idempotent(request, request.user, work, committed=committed)

        return wrapper

    return decorate
