"""One-time review links: approve or deny a request from the email that announced it.

A link is a token signed with Django's signing (salted, timestamped) naming a ReviewLink
row, which keeps only the token's SHA-256: the signature refuses forged or altered tokens
before any query, the row makes the link one-time and bound to one reviewer and request.
Opening a link only shows a confirmation page (sign-in required); the review itself is a
POST that goes through `review_submit`, which re-checks every review rule.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accessportal.kernel.audit import audit_record
from accessportal.kernel.choices import AuditAction, RequestState
from accessportal.kernel.locking import retry_on_conflict
from policies_app.selectors import subject_for
from requests_app.models import AccessRequest, ReviewLink
from requests_app.selectors import may_review, review_window
from requests_app.services.reviews import review_submit

SALT = "accessportal.review-link"


class ReviewLinkRefused(Exception):
    """A link that cannot be used, with what to tell the person who opened it. Portal only
    (the API has no links): `status` is the page's HTTP status."""

    status = 404

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LinkInvalid(ReviewLinkRefused):
    status = 404


class LinkExpired(ReviewLinkRefused):
    status = 410


class LinkUsed(ReviewLinkRefused):
    status = 410


class LinkNotYours(ReviewLinkRefused):
    status = 403


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@retry_on_conflict
@transaction.atomic
def review_link_issue(
    *, request: AccessRequest, reviewer: AbstractBaseUser, now: datetime | None = None
) -> str | None:
    """A new link for `reviewer` to review `request`, or None when they may not review it
    now, it is no longer pending, or links are off (ACCESSPORTAL_REVIEW_LINK_TTL 0).
    It expires after ACCESSPORTAL_REVIEW_LINK_TTL, and never after the request's pending
    time or the end of the reviewer's review window. Returns the token (shown once, in the
    email); only its hash is stored."""
    now = now or timezone.now()
    ttl = settings.ACCESSPORTAL_REVIEW_LINK_TTL
    subject = subject_for(reviewer)
    if (
        ttl <= 0
        or request.state != RequestState.PENDING
        or request.expires <= now
        or not may_review(request, reviewer, subject)
    ):
        return None
    expires = min(now + timedelta(seconds=ttl), request.expires)
    # A rule that stops allowing it (`request.pending_for < duration("1h")`) ends it too.
    window = review_window(subject, request, now)
    if window and window[1] is not None:
        expires = min(expires, window[1])
    link = ReviewLink.objects.create(
        request=request,
        reviewer=reviewer,
        token_hash=secrets.token_hex(32),  # a placeholder until the token names the row
        created=now,
        expires=expires,
    )
    token = signing.dumps({"l": link.pk, "n": secrets.token_urlsafe(16)}, salt=SALT)
    ReviewLink.objects.filter(pk=link.pk).update(token_hash=_hash(token))
    audit_record(
        action=AuditAction.REVIEW_LINK_ISSUED,
        target_type="access_request",
        target_id=str(request.id),
        data={"reviewer": reviewer.get_username(), "link": link.pk, "expires": link.expires},
    )
    return token


def review_link_check(
    *, token: str, user: AbstractBaseUser, now: datetime | None = None, lock: bool = False
) -> ReviewLink:
    """The link `token` names, if `user` may use it now; raises ReviewLinkRefused saying
    why not (not a link, sent to someone else, a request they may no longer see, used,
    expired). Only reads; with `lock`,
    locks the link's row (inside the caller's transaction)."""
    now = now or timezone.now()
    try:
        payload = signing.loads(token, salt=SALT)
        link_id = int(payload["l"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise LinkInvalid("This review link is not valid. Open the request from Reviews.") from None
    links = ReviewLink.objects.select_related("request", "request__user", "reviewer")
    if lock:
        links = links.select_for_update(of=("self",))
    link = links.filter(pk=link_id).first()
    if link is None or not hmac.compare_digest(link.token_hash, _hash(token)):
        raise LinkInvalid("This review link is not valid. Open the request from Reviews.")
    if link.reviewer_id != user.pk:
        raise LinkNotYours(
            "This review link was sent to someone else: it cannot be used by your account."
        )
    if not AccessRequest.objects.visible_to(user).filter(pk=link.request_id).exists():
        # Their reviewer profile lost the request since (visibility: not found, and the
        # page says nothing about the request).
        raise LinkInvalid(
            "This review link can no longer be used: the request is not one you may see."
        )
    if link.used_at is not None:
        raise LinkUsed(
            f"This review link was already used ({link.used_at:%Y-%m-%d %H:%M} UTC). "
            "Each link works once."
        )
    if link.expires <= now:
        raise LinkExpired(
            f"This review link expired at {link.expires:%Y-%m-%d %H:%M} UTC. "
            "Open the request from Reviews to review it."
        )
    return link


@retry_on_conflict
@transaction.atomic
def review_link_redeem(
    *, token: str, user: AbstractBaseUser, state: str, reason: str = ""
) -> AccessRequest:
    """Review through a link: check it (`review_link_check`), submit the review as `user`
    (`review_submit`, every rule re-checked), and mark the link used, all in one
    transaction. The link's row is locked first (links, then the request, then its
    reviews): of two submissions racing, the second waits and finds the link used."""
    now = timezone.now()
    link = review_link_check(token=token, user=user, now=now, lock=True)
    request = review_submit(request_id=link.request_id, reviewer=user, state=state, reason=reason)
    if not ReviewLink.objects.filter(pk=link.pk, used_at=None).update(used_at=now):
        raise LinkUsed("This review link was already used. Each link works once.")
    audit_record(  # after the review's own events: the head last
        action=AuditAction.REVIEW_LINK_USED,
        target_type="access_request",
        target_id=str(link.request_id),
        actor=user,
        data={"link": link.pk, "state": state},
    )
    return request


# Messages that ask their recipients to review: their emails carry a link.
LINK_EVENTS = frozenset({"request.created", "request.reminder"})


def review_link_for_email(*, message, username: str) -> str:
    """The URL of a new link for the reviewer an email of `message` goes to, or "" (not an
    event that asks for a review, not a reviewer who may review it now, links off). Called
    by the email channel when it sends, outside any transaction: a delivery sent again
    gets a new link, and the first one stays usable until it expires."""
    if message.event not in LINK_EVENTS or not username or message.request_id is None:
        return ""
    base = urlsplit(settings.NOTIFY_REQUEST_URL)
    if not base.scheme or not base.netloc:
        return ""
    User = get_user_model()
    reviewer = User.objects.filter(**{User.USERNAME_FIELD: username}, is_active=True).first()
    if reviewer is None:
        return ""
    token = review_link_issue(request=message.request, reviewer=reviewer)
    if token is None:
        return ""
    path = reverse("portal:review-link", args=[token])
    return urlunsplit((base.scheme, base.netloc, path, "", ""))
