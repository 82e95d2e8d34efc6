"""Every `code` an error answer under /api/ can carry: one registry for the exception
handler, the schema's enums and README's "Errors" table (a test keeps the three in step).

Domain codes come from the domain error classes (accessportal/kernel/errors.py and the few
services that define their own); API codes are those of the HTTP layer (authentication,
content negotiation, parsing, rate limits, crashes). One code per cause, wherever it is raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from accessportal.kernel import errors as kernel
from requests_app.selectors.exports import ExportTooLarge
from requests_app.services.cli_login import TooManyAttempts
from requests_app.services.preconditions import PreconditionFailed
from requests_app.services.signing_keys import CredentialKeyUnusable
from requests_app.services.tokens import SharedToken


@dataclass(frozen=True)
class ErrorCode:
    code: str
    status: int
    meaning: str
    # Only operations that read a request body can answer it (parse errors, size, media type).
    body_only: bool = False
    # Only operations that authenticate the caller can answer it (401s, CSRF).
    authenticated_only: bool = False
    # Only writes (POST, PUT, PATCH, DELETE) can answer it (CSRF).
    writes_only: bool = False
    # Only operations on these paths (schema templates; `*` matches anything) can answer it
    # (empty: any).
    paths: tuple[str, ...] = ()

    def answered_by(self, path: str, method: str, *, body: bool, authenticated: bool) -> bool:
        """Whether the operation `method path` can answer this code."""
        return (
            (body or not self.body_only)
            and (authenticated or not self.authenticated_only)
            and (method.upper() not in ("GET", "HEAD", "OPTIONS") or not self.writes_only)
            and (not self.paths or any(fnmatchcase(path, p) for p in self.paths))
        )


# Meanings of the domain errors whose class has no docstring to say it.
_MEANINGS = {
    "too_many_attempts": "Too many sign-in codes tried from this address: wait, then start again.",
    "invalid": "Bad input: the message says what, `field` which field, `errors` every field.",
    "precondition_failed": "`If-Match` names a version the object no longer has: read it again.",
    "database_unavailable": "The database cannot be reached; the message says whether a change "
    "you sent may have been saved (look before sending it again).",
}


def _request_actions(*actions: str) -> tuple[str, ...]:
    return tuple(f"/api/v1/requests/{{id}}/{action}/" for action in actions)


# Keeping or removing an access review item (requests_app.services.access_reviews).
_ACCESS_REVIEW_DECISIONS = tuple(
    f"/api/v1/access-reviews/items/{{id}}/{action}/" for action in ("keep", "remove")
)

# Domain errors only some operations raise: the paths whose operations can answer them.
_PATHS = {
    "self_review": (
        *_request_actions("reviews", "approve", "deny", "ratify"),
        *_ACCESS_REVIEW_DECISIONS,
    ),
    "not_pending": _request_actions("reviews", "withdraw", "approve", "deny"),
    "already_reviewed": _request_actions("reviews"),
    "not_approved": _request_actions("revoke", "extend"),
    "access_ended": _request_actions("revoke", "extend"),
    "extension_pending": _request_actions("extend"),
    "reason_required": (
        "/api/v1/requests/",
        *_request_actions("reviews", "approve", "deny", "revoke", "extend", "ratify"),
        "/api/v1/policy-proposals/{id}/reject/",
        *_ACCESS_REVIEW_DECISIONS,
    ),
    "break_glass_not_allowed": ("/api/v1/requests/",),
    "break_glass_unratified": ("/api/v1/requests/", *_request_actions("extend")),
    "not_awaiting_ratification": _request_actions("ratify"),
    # A start time in the past (create, review), a duration or audience refused, and the
    # access check's "exactly one of role or resource" (a read).
    "unprocessable": (
        "/api/v1/requests/",
        *_request_actions("reviews", "extend", "ratify"),
        "/api/v1/credentials/",
        "/api/v1/access/check/",
        "/api/v1/policy-proposals/",  # a proposal that changes nothing
    ),
    "too_many_attempts": ("/api/v1/auth/cli/*", "/api/v1/auth/device/*"),
    "credential_key_unusable": ("/api/v1/credentials/",),
    "anchors_not_configured": ("/api/v1/requests/{id}/evidence/",),
    "not_yet_anchored": ("/api/v1/requests/{id}/evidence/",),
    "evidence_too_large": ("/api/v1/requests/{id}/evidence/",),
    "shared_token": ("/api/v1/auth/token/current/",),
    # Every state change whose service compares If-Match (api/retry_schema.PRECONDITIONED).
    "self_approval": tuple(f"/api/v1/policy-proposals/{{id}}/{a}/" for a in ("approve", "reject")),
    "proposal_not_pending": tuple(
        f"/api/v1/policy-proposals/{{id}}/{a}/" for a in ("approve", "reject", "withdraw")
    ),
    "proposal_stale": ("/api/v1/policy-proposals/{id}/approve/",),
    "export_too_large": ("/api/v1/requests/export/", "/api/v1/audit/export/"),
    "precondition_failed": _request_actions(
        "reviews", "withdraw", "approve", "deny", "revoke", "extend", "ratify"
    ),
}


_READS_TOO = {
    "unprocessable", "anchors_not_configured", "not_yet_anchored", "evidence_too_large",
    "export_too_large",
}  # fmt: skip


def _domain(cls: type[kernel.DomainError]) -> ErrorCode:
    doc = (cls.__doc__ or "").strip().split("\n\n")[0]
    meaning = _MEANINGS.get(cls.code) or " ".join(doc.split())
    paths = _PATHS.get(cls.code, ())
    # Every domain error answered by some operations only is answered by writes only, but
    # `unprocessable`, which the access check (a GET) answers too.
    writes_only = bool(paths) and cls.code not in _READS_TOO
    return ErrorCode(cls.code, cls.status, meaning, writes_only=writes_only, paths=paths)


# The domain errors the API answers (by the exception handler, with their own status).
# Domain errors of other surfaces (SSO sign-in pages, SCIM) are not answered here.
API_DOMAIN_ERRORS: tuple[type[kernel.DomainError], ...] = (
    kernel.ValidationFailed,
    kernel.Unprocessable,
    kernel.ReasonRequired,
    kernel.NotAllowed,
    kernel.SelfReviewRefused,
    kernel.NotFound,
    kernel.Conflict,
    kernel.NotPending,
    kernel.NotApproved,
    kernel.AlreadyReviewed,
    kernel.AccessEnded,
    kernel.ExtensionPending,
    kernel.BreakGlassNotAllowed,
    kernel.BreakGlassUnratified,
    kernel.NotAwaitingRatification,
    kernel.ConcurrentUpdate,
    kernel.DatabaseUnavailable,
    kernel.SelfApprovalRefused,
    kernel.ProposalNotPending,
    kernel.ProposalStale,
    kernel.AnchorsNotConfigured,
    kernel.NotYetAnchored,
    kernel.EvidenceTooLarge,
    TooManyAttempts,
    CredentialKeyUnusable,
    PreconditionFailed,
    SharedToken,
    ExportTooLarge,
)

# RFC 8628's answers to a device sign-in poll (DeviceFlowError's `code`s): 400s of one
# operation; `invalid_grant` is also the code exchange's (RFC 6749) for a code it cannot take.
DEVICE_TOKEN = ("/api/v1/auth/device/token/",)
# Writes that take an Idempotency-Key: every POST on requests, and the token login.
IDEMPOTENT = ("/api/v1/requests/*", "/api/v1/auth/token/")
DEVICE_FLOW_CODES = (
    ErrorCode(
        "authorization_pending",
        400,
        "The person has not approved the code yet.",
        paths=DEVICE_TOKEN,
    ),
    ErrorCode(
        "slow_down", 400, "Polled too soon: wait 5 seconds longer from now on.", paths=DEVICE_TOKEN
    ),
    ErrorCode("access_denied", 400, "The person denied the sign-in.", paths=DEVICE_TOKEN),
    ErrorCode("expired_token", 400, "The device code ran out.", paths=DEVICE_TOKEN),
    ErrorCode(
        "invalid_grant",
        400,
        "Unknown, already used or expired sign-in code (RFC 6749: a device code, or the "
        "code `accessctl login --sso` trades).",
        paths=(*DEVICE_TOKEN, "/api/v1/auth/cli/token/"),
    ),
)

API_CODES = (
    ErrorCode(
        "parse_error",
        400,
        "The body is not valid JSON (or not UTF-8, or nested too deeply).",
        body_only=True,
    ),
    ErrorCode("bad_host", 400, "The Host header names a host this server does not serve."),
    ErrorCode(
        "not_authenticated",
        401,
        "No credentials: send `Authorization: Bearer <key>` (or `Token <key>`) or use a session.",
        authenticated_only=True,
    ),
    ErrorCode(
        "authentication_failed",
        401,
        "The token is unknown or malformed, or its user inactive.",
        authenticated_only=True,
    ),
    ErrorCode(
        "token_expired",
        401,
        "The session token expired: sign in again.",
        authenticated_only=True,
    ),
    ErrorCode(
        "token_revoked",
        401,
        "The session token was revoked: sign in again.",
        authenticated_only=True,
    ),
    ErrorCode(
        "csrf_failed",
        403,
        "A write with session authentication lacks a valid CSRF token.",
        authenticated_only=True,
        writes_only=True,
    ),
    ErrorCode("method_not_allowed", 405, "The path does not answer this HTTP method."),
    ErrorCode("not_acceptable", 406, "The API answers only `application/json`."),
    ErrorCode("too_large", 413, "The body is larger than the server reads.", body_only=True),
    ErrorCode(
        "unsupported_media_type",
        415,
        "The body must be sent as `Content-Type: application/json`, in UTF-8 (or UTF-16/32).",
        body_only=True,
    ),
    ErrorCode("throttled", 429, "Too many requests: wait the `Retry-After` seconds."),
    # Idempotency-Key and If-Match (requests_app/api/idempotency.py).
    ErrorCode(
        "idempotency_key_invalid",
        400,
        "The `Idempotency-Key` header is malformed.",
        writes_only=True,
        paths=IDEMPOTENT,
    ),
    ErrorCode(
        "idempotency_key_in_use",
        409,
        "A request with this `Idempotency-Key` is still running: retry after `Retry-After`.",
        writes_only=True,
        paths=IDEMPOTENT,
    ),
    ErrorCode(
        "idempotency_key_mismatch",
        422,
        "This `Idempotency-Key` was used with another body, path or `If-Match`: use a new key.",
        writes_only=True,
        paths=IDEMPOTENT,
    ),
    ErrorCode(
        "sign_in_locked",
        429,
        "Too many failed sign-ins: sign-in is locked for a while (`Retry-After`).",
        paths=("/api/v1/auth/token/",),
    ),
    ErrorCode("server_error", 500, "An unexpected error; it is logged for the operators."),
    ErrorCode(
        "service_unavailable",
        503,
        "The server cannot answer now (overloaded or down for maintenance): try again later.",
    ),
)

# RFC 8628's answers come from requests_app.services.cli_login.DeviceFlowError.
REGISTRY: dict[str, ErrorCode] = {}
for _entry in (*map(_domain, API_DOMAIN_ERRORS), *API_CODES, *DEVICE_FLOW_CODES):
    # database_unavailable is both a domain error (before COMMIT) and the handler's answer to a
    # lost connection: one code, one entry.
    REGISTRY.setdefault(_entry.code, _entry)

# The code of an answer whose own code is not in the registry, by status.
FALLBACK = {
    400: "invalid",
    401: "authentication_failed",
    403: "not_allowed",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "throttled",
    # A 503 the API's views did not write: its cause is not known to be the database.
    503: "service_unavailable",
}


def code_for_status(status: int) -> str:
    return FALLBACK.get(status, "server_error" if status >= 500 else "invalid")


def codes_answered(path: str, method: str, status: int, *, body: bool, authenticated: bool):
    """The codes the operation `method path` can answer with `status`, in registry order."""
    return [
        entry.code
        for entry in REGISTRY.values()
        if entry.status == status
        and entry.answered_by(path, method, body=body, authenticated=authenticated)
    ]
