"""One review through the service, and what happened said in one sentence.

`review_submit` checks the reviewer's right under the request lock; a domain error becomes a
message here, never a 500.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest

from accessportal.kernel.choices import RequestState, ReviewState
from accessportal.kernel.errors import DomainError
from requests_app.admin import display
from requests_app.models import AccessRequest
from requests_app.services.reviews import review_submit


def outcome_message(obj: AccessRequest, verdict: str) -> str:
    """What happened after one review, in one sentence a reviewer can act on."""
    label = display.request_label(obj)
    verb = "approved" if verdict == ReviewState.APPROVED else "denied"
    if obj.state == RequestState.APPROVED:
        return (
            f"You approved {label}. The request is approved: access from "
            f"{display.when_text(obj.access_starts)} until {display.when_text(obj.access_expires)}."
        )
    if obj.state == RequestState.DENIED:
        return f"You {verb} {label}. The request is denied."
    rows = display.progress_rows(obj, obj.reviews.all())
    return f"You {verb} {label}. Still pending: {'; '.join(r['text'] for r in rows)}."


def review_one(request: HttpRequest, obj: AccessRequest, verdict: str, reason: str) -> bool:
    """Review one request through the service and report it as a message; True if done."""
    label = display.request_label(obj)
    try:
        updated = review_submit(
            request_id=obj.pk, reviewer=request.user, state=verdict, reason=reason
        )
    except DomainError as err:
        messages.error(request, f"{label}: not reviewed: {err.message}.")
        return False
    messages.success(request, outcome_message(updated, verdict))
    return True
