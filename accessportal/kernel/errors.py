"""Domain errors. The API, admin, portal and CLI each turn these into their own messages.

`status` is the HTTP status that fits; every error carries a message meant for a person;
`code` is the stable machine-readable cause, one per cause wherever it is raised (the API's
error codes table, README "Errors", lists every one: tests/requests_app/api/test_error_codes.py).
"""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(DomainError):
    """Malformed input: a value of the wrong form (not a resource id, control characters,
    too long). The API answers 400, as for input its serializers refuse."""


class Unprocessable(ValidationFailed):
    """Well-formed input refused for what it says: a duration above the ceiling, a start
    time in the past, an unknown suggested reviewer, an audience not configured. The API
    answers 422 (GitHub's convention: 400 breaks the schema, 422 breaks a rule)."""

    status = 422
    code = "unprocessable"


class ReasonRequired(Unprocessable):
    """A reason is required (by the request's policy, or to resolve or revoke) and was empty."""

    code = "reason_required"


class NotAllowed(DomainError):
    """The caller may not do this (policy, permission or dual authorization)."""

    status = 403
    code = "not_allowed"


class SelfReviewRefused(NotAllowed):
    """Nobody reviews or resolves their own request, superusers included."""

    code = "self_review"


class NotFound(DomainError):
    """The object does not exist or the caller may not see it (answered alike: 404)."""

    status = 404
    code = "not_found"


class Conflict(DomainError):
    """The object is not in a state that allows this; the message says why (subclasses name
    the common causes)."""

    status = 409
    code = "conflict"


class IllegalTransition(Conflict):
    """A state change the request's state machine does not allow (`services.transitions`).

    Keeps Conflict's code: the API answered "conflict" for these before the table existed.
    """


class NotPending(IllegalTransition):
    """The request is no longer pending (reviewed, resolved, withdrawn or expired)."""

    code = "not_pending"


class NotApproved(IllegalTransition):
    """Only approved access can be revoked or extended."""

    code = "not_approved"


class AccessEnded(Conflict):
    """The access already ended (expired or revoked): nothing left to revoke or extend."""

    code = "access_ended"


class ExtensionPending(Conflict):
    """An extension of this access is already waiting for review."""

    code = "extension_pending"


class TokenExists(Conflict):
    """The user already has an API token: replace it or revoke it first."""

    code = "token_exists"


class AlreadyReviewed(Conflict):
    """The reviewer already reviewed this request (one review per reviewer)."""

    code = "already_reviewed"


class ConcurrentUpdate(Conflict):
    """The database aborted the change for a deadlock or serialization conflict, and
    retrying did not help; nothing was saved and the caller may try again."""

    code = "concurrent_update"


class DatabaseUnavailable(DomainError):
    """The database connection was lost before the change reached COMMIT, again on every
    retry: nothing was saved and the caller may try again later."""

    status = 503
    code = "database_unavailable"


class BreakGlassNotAllowed(NotAllowed):
    """Break-glass was asked for an item whose request policy does not allow it
    (`break_glass` in the role's `allow.request`)."""

    code = "break_glass_not_allowed"


class BreakGlassUnratified(Conflict):
    """The user already has a break-glass use awaiting ratification: it must be ratified or
    rejected before they may break glass again."""

    code = "break_glass_unratified"


class NotAwaitingRatification(Conflict):
    """The request is not a break-glass use awaiting ratification (never was one, or already
    ratified or rejected)."""

    code = "not_awaiting_ratification"


class SelfApprovalRefused(NotAllowed):
    """Nobody approves or rejects the policy change they proposed, superusers included."""

    code = "self_approval"


class ProposalNotPending(Conflict):
    """The policy proposal was already applied, rejected, withdrawn or found stale."""

    code = "proposal_not_pending"


class ProposalStale(Conflict):
    """A document the proposal changes was changed after it was proposed: it is now STALE
    and nothing was applied; propose again from the current policy."""

    code = "proposal_stale"


class ApprovalRequired(NotAllowed):
    """Policy changes need a second person's approval here (POLICY_CHANGES_REQUIRE_APPROVAL):
    propose the change instead."""

    code = "approval_required"


class NotYetAnchored(DomainError):
    """No signed audit anchor covers the request's last event yet: the worker was asked for
    one (the web process never signs). Retry after `Retry-After` seconds."""

    status = 503
    code = "not_yet_anchored"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EvidenceTooLarge(DomainError):
    """The request's evidence bundle would link more other audit events than
    EVIDENCE_MAX_LINKS allows (a request open for long on a busy server): an operator
    exports it with `manage.py evidence_bundle --max-links 0`."""

    status = 422
    code = "evidence_too_large"


class AnchorsNotConfigured(DomainError):
    """Evidence needs a signed audit anchor and anchors are not configured on this server
    (AUDIT_ANCHOR_KEY or AUDIT_ANCHOR_PRIVATE_KEY_FILE, and AUDIT_ANCHOR_FILE)."""

    status = 503
    code = "anchors_not_configured"
