"""Object permissions on requests (django-guardian rows), kept in sync with policies.

The rows answer "who may see / review this request" with one indexed query; they are a
projection, recomputed when a request is created and when policies change. Review itself
always re-checks policy (`services.reviews.request_get_for_review`).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import Permission
from django.db import transaction

from accessportal.kernel.choices import RequestState
from accessportal.kernel.locking import retry_on_conflict
from policies_app.engine import PolicySet
from requests_app.models import AccessRequest
from requests_app.models import AccessRequestUserObjectPermission as ObjPerm
from requests_app.selectors import eligible_reviewer_ids

VIEW = "view_accessrequest"
REVIEW = "review_accessrequest"


def _permissions() -> dict[str, Permission]:
    return {
        p.codename: p
        for p in Permission.objects.filter(
            content_type__app_label="requests_app", codename__in=[VIEW, REVIEW]
        )
    }


def request_permissions_sync(
    request: AccessRequest, *, policies: PolicySet | None = None, perms: dict | None = None
) -> list[int]:
    """Make the rows of one PENDING request match policy; returns the eligible reviewer ids.

    The requester can view; eligible reviewers can view and review. Reviewers who lost
    eligibility lose both rows unless they already reviewed (their review is part of the
    record, so they keep view). Rows of resolved requests are left as they were.
    """
    perms = perms or _permissions()
    reviewers = set(eligible_reviewer_ids(request, policies))
    reviewed = set(request.reviews.values_list("reviewer_id", flat=True))
    wanted = {(request.user_id, VIEW)}
    wanted |= {(uid, VIEW) for uid in reviewers | reviewed}
    wanted |= {(uid, REVIEW) for uid in reviewers}
    existing = {
        (uid, code): pk
        for pk, uid, code in ObjPerm.objects.filter(content_object=request).values_list(
            "pk", "user_id", "permission__codename"
        )
    }
    stale = [pk for key, pk in existing.items() if key not in wanted]
    if stale:
        ObjPerm.objects.filter(pk__in=stale).delete()
    ObjPerm.objects.bulk_create(
        [
            ObjPerm(content_object=request, user_id=uid, permission=perms[code])
            for uid, code in wanted - existing.keys()
        ]
    )
    return sorted(reviewers)


@retry_on_conflict
@transaction.atomic
def request_permissions_resync(*, request_ids: Iterable[object] | None = None) -> int:
    """Recompute rows of PENDING requests (all, or those given), e.g. after a policy change."""
    policies = PolicySet.load()
    perms = _permissions()
    queryset = AccessRequest.objects.filter(state=RequestState.PENDING)
    if request_ids is not None:
        queryset = queryset.filter(pk__in=list(request_ids))
    count = 0
    for request in queryset.iterator(chunk_size=500):
        request_permissions_sync(request, policies=policies, perms=perms)
        count += 1
    return count


def on_review_rules_changed(sender, **kwargs) -> None:
    """Receiver of `policies_app.signals.review_rules_changed`: resync every pending request."""
    request_permissions_resync()
