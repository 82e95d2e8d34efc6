"""Everything the request page shows a reviewer, gathered in a handful of queries.

Only reads. The requester's history is limited to requests the viewer may see, so the page
never reveals a request its viewer could not open.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accessportal.kernel.choices import RequestState
from accessportal.kernel.errors import (
    AlreadyReviewed,
    NotAllowed,
    NotPending,
    SelfReviewRefused,
)
from accessportal.kernel.models import AuditEvent
from policies_app.models import Resource, Role
from policies_app.selectors import user_traits
from requests_app.admin import display
from requests_app.models import AccessRequest, BreakGlass
from requests_app.selectors import eligible_reviewer_ids, requests_needing_review
from requests_app.selectors.usage import SHOWN, unused_grants_of
from requests_app.services.evidence import PERMISSION as EVIDENCE_PERMISSION
from requests_app.services.grants import may_revoke
from requests_app.services.reviews import review_reason_required, review_refusal
from requests_app.services.windows import access_window

HISTORY = 8


def _role_gives(role: Role | None, name: str) -> dict:
    spec = role.spec if role else {}
    reach = spec.get("allow", {}).get("resources", {})
    labels = ", ".join(f"{k}: {'|'.join(v)}" for k, v in sorted(reach.get("labels", {}).items()))
    return {
        "kind": "role",
        "name": name,
        "exists": role is not None,
        "description": role.description if role else "",
        "permissions": spec.get("allow", {}).get("permissions", []),
        "reach": f"{', '.join(reach.get('kinds', []))} labelled {labels}"
        if reach.get("kinds") and labels
        else "",
    }


def _what_approval_gives(request: AccessRequest) -> list[dict]:
    roles = {r.name: r for r in Role.objects.filter(name__in=request.roles)}
    out = [_role_gives(roles.get(name), name) for name in request.roles]
    wanted = Q(pk__in=[])
    for rid in request.resources:
        kind, _, name = rid.partition("/")
        wanted |= Q(kind=kind, name=name)
    found = {r.resource_id: r for r in Resource.objects.filter(wanted)}
    for rid in request.resources:
        row = found.get(rid)
        out.append(
            {
                "kind": "resource",
                "name": rid,
                "exists": row is not None,
                "description": row.description if row else "",
                "labels": sorted((row.labels or {}).items()) if row else [],
                "via": sorted(request.policy.get("review_roles", {}).get(f"resource:{rid}", [])),
            }
        )
    return out


def _extends(request: AccessRequest, viewer) -> dict | None:
    """The access an extension continues, linked when the viewer may open it."""
    if not request.extends_id:
        return None
    visible = AccessRequest.objects.visible_to(viewer).filter(pk=request.extends_id).exists()
    return {"id": request.extends_id, "visible": visible}


def _sets(request: AccessRequest, rows: list[dict]) -> list[dict]:
    """Per requested item, the threshold sets that must each be met ("any one of")."""
    out = []
    for item, sets in request.policy.get("sets", {}).items():
        kind, _, name = item.partition(":")
        out.append(
            {
                "kind": kind,
                "name": name,
                "sets": [[rows[i] for i in indexes if i < len(rows)] for indexes in sets],
            }
        )
    return out


def _audit_trail(request: AccessRequest, grant_ids: list[int]) -> list[AuditEvent]:
    query = Q(target_type="access_request", target_id=str(request.pk))
    if grant_ids:
        query |= Q(target_type="grant", target_id__in=[str(pk) for pk in grant_ids])
    return list(AuditEvent.objects.filter(query).order_by("seq"))


def _reviewer_names(request: AccessRequest) -> list[str]:
    """Everyone `may_review` lets review `request` today (the portal shows the same list)."""
    User = get_user_model()
    ids = eligible_reviewer_ids(request)
    return sorted(User.objects.filter(pk__in=ids).values_list(User.USERNAME_FIELD, flat=True))


def why_not_reviewable(request: AccessRequest, viewer, *, subject=None, reviews=None) -> str:
    """Why `viewer` cannot review `request` now, in words; "" when they can: the review
    service's own `review_refusal` (the error `review_submit` would raise), in desk wording.
    `subject` and `reviews`: as `review_refusal` takes them."""
    refusal = review_refusal(request, viewer, subject=subject, reviews=reviews)
    if refusal is None:
        return ""
    if isinstance(refusal, SelfReviewRefused):
        return (
            "This is your own request: somebody else must review it "
            "(nobody reviews their own request, administrators included)."
        )
    if isinstance(refusal, NotAllowed):
        return "Your standing roles do not allow you to review this request."
    if isinstance(refusal, AlreadyReviewed):
        return "You have reviewed this request."
    if isinstance(refusal, NotPending) and request.state == RequestState.PENDING:
        return "This request passed its pending time; it can no longer be reviewed."
    return f"{refusal.message[:1].upper()}{refusal.message[1:]}."


def review_panel(request: AccessRequest, viewer, reviews: list) -> dict:
    """What the viewer may do now, and if not, why not (in words): the note only while the
    request is still pending (a decided request shows its outcome, not a refusal)."""
    own = next((r for r in reviews if r.reviewer_id == viewer.pk), None)
    panel: dict = {"can_review": False, "can_revoke": False, "note": "", "own_review": own}
    note = why_not_reviewable(request, viewer, reviews=reviews)
    if not note:
        panel["can_review"] = True
    elif request.state == RequestState.PENDING:
        panel["note"] = note
    elif request.is_access_live_at(timezone.now()) and may_revoke(request, viewer):
        panel["can_revoke"] = True
    return panel


def request_page_context(request: AccessRequest, viewer) -> dict:
    """The request page: reason, requester, thresholds, reviews, access, audit trail."""
    now = timezone.now()
    reviews = list(request.reviews.select_related("reviewer").order_by("created", "id"))
    rows = display.progress_rows(request, reviews)
    for review in reviews:
        review.counted = [rows[i]["label"] for i in review.threshold_indexes if i < len(rows)]
    grants = list(request.grants.order_by("id"))
    for grant in grants:
        grant.status = grant.status_at(now)
    history = list(
        AccessRequest.objects.visible_to(viewer)
        .filter(user_id=request.user_id)
        .exclude(pk=request.pk)
        .order_by("-created")[:HISTORY]
    )
    requester_roles = list(Role.objects.filter(members=request.user_id).order_by("name"))
    next_up = requests_needing_review(viewer).exclude(pk=request.pk).first()
    unused = list(
        unused_grants_of(user_id=request.user_id, viewer=viewer, exclude_request=request.pk)[
            : SHOWN + 1
        ]
    )
    return {
        "req": request,
        "now": now,
        "state_css": display.STATE_CLASSES.get(request.state, "muted"),
        "age": display.since(request.created, now),
        "time_left": display.until(request.expires, now),
        "requested": display.duration(request.requested_duration),
        "approved_duration": display.duration(request.max_duration),
        "capped": request.max_duration < request.requested_duration,
        "window": access_window(request, now),
        "extends": _extends(request, viewer),
        "gives": _what_approval_gives(request),
        "thresholds": rows,
        "item_sets": _sets(request, rows),
        "reviews": reviews,
        "grants": grants,
        "audit": _audit_trail(request, [g.pk for g in grants]),
        # The evidence bundle (API; the same rule as the endpoint: the request is seen here).
        "evidence_url": reverse("api:request-evidence", args=[request.pk])
        if viewer.has_perm(EVIDENCE_PERMISSION)
        else "",
        "requester_roles": requester_roles,
        # One more than shown, to say "at least" when there are more.
        "unused_grants": unused[:SHOWN],
        "unused_more": len(unused) > SHOWN,
        "requester_traits": sorted(user_traits(request.user).items()),
        "history": [
            {"obj": r, "badge": display.state_badge(r.state), "items": display.items(r)}
            for r in history
        ],
        "reviewers": _reviewer_names(request),
        "panel": review_panel(request, viewer, reviews),
        "next_up": next_up,
        "reason_required": review_reason_required(request),
        "reason_prompt": request.policy.get("reason_prompt", ""),
        **_break_glass(request, now),
    }


def _break_glass(request: AccessRequest, now) -> dict:
    """A break-glass use's ratification and where to judge it; nothing for other requests."""
    glass = BreakGlass.objects.select_related("decided_by").filter(request=request).first()
    if glass is None:
        return {}
    return {
        "glass": glass,
        "glass_status": glass.status_at(now),
        "glass_queue_url": reverse("admin:requests_app_breakglass_changelist")
        + "?ratification=mine",
    }
