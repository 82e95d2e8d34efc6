"""Reads the portal pages need, on top of `requests_app.selectors` (the visibility rules)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, QuerySet, TextField
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone

from accessportal.kernel.choices import RequestState, ReviewState
from policies_app.engine import PolicySet
from policies_app.models import Role
from requests_app.models import AccessRequest, Review
from requests_app.selectors import (
    eligible_reviewer_ids,
    requests_needing_review,
    reviews_anything,
)
from requests_app.services.endings import access_ends
from requests_app.services.windows import chain_ends


def standing_roles(user: AbstractBaseUser) -> QuerySet[Role]:
    return Role.objects.filter(members=user).only("name", "description").order_by("name")


def access_current(user: AbstractBaseUser, now: datetime | None = None) -> list[AccessRequest]:
    """The user's approved requests whose access has not ended (active or starting later),
    soonest end first, each marked with `has_pending_extension`."""
    now = now or timezone.now()
    pending_extension = AccessRequest.objects.filter(extends=OuterRef("pk")).pending_at(now)
    return list(
        AccessRequest.objects.filter(user=user)
        .access_live_at(now)
        .annotate(has_pending_extension=Exists(pending_extension))
        .order_by("access_expires")
    )


def access_folded(access: list[AccessRequest]) -> list[AccessRequest]:
    """One entry per access, however often it was extended: an approved extension is folded
    into the access it continues. `access` is `access_current` (soonest end first, so an
    access comes before its extensions). Each entry gets `ends` (the end of the last
    extension), `was_until` (its own end, when extended), `tail` (the last request of the
    chain: the one to extend) and `has_pending_extension` (of any request in the chain)."""
    by_pk = {r.pk: r for r in access}
    heads: list[AccessRequest] = []
    for r in access:
        parent = by_pk.get(r.extends_id)
        head = getattr(parent, "head", None) if parent is not None else None
        if head is None:
            r.head, r.tail, r.ends, r.was_until = r, r, r.access_expires, None
            heads.append(r)
            continue
        r.head = head
        head.tail, head.was_until = r, head.access_expires
        head.has_pending_extension = head.has_pending_extension or r.has_pending_extension
    extended = [h for h in heads if h.tail is not h]
    if extended:  # where the access really ends: the one rule, `windows.chain_ends`
        ends = chain_ends(extended)
        for head in extended:
            head.ends = ends.get(head.pk, head.tail.access_expires)
    return heads


RECENT = timedelta(days=7)


def access_ended_recently(
    user: AbstractBaseUser, now: datetime | None = None, limit: int = 5
) -> list[AccessRequest]:
    """The user's access that ended in the last `RECENT` (expired, ended early, revoked),
    latest end first, each with `ending` (`endings.access_end`), for the home page's
    history. Not listed: access an extension took over (it has not ended) and requests
    cancelled before their access started (an extension ended with its parent)."""
    now = now or timezone.now()
    candidates = list(
        AccessRequest.objects.filter(
            user=user,
            state__in=[RequestState.APPROVED, RequestState.REVOKED],
            access_starts__isnull=False,
        )
        .annotate(ended=Coalesce("revoked_at", "access_expires"))
        .filter(ended__lte=now, ended__gt=now - RECENT)
        .select_related("revoked_by")
    )
    ends = access_ends(candidates, now)
    ended = []
    for r in candidates:
        r.ending = ends.get(r.pk)
        if r.ending is not None and r.ending.is_history:
            ended.append(r)
    ended.sort(key=lambda r: r.ending.at, reverse=True)
    return ended[:limit]


def requests_pending_of(user: AbstractBaseUser, now: datetime | None = None):
    now = now or timezone.now()
    return AccessRequest.objects.filter(user=user).pending_at(now).order_by("-created")


def my_requests(user: AbstractBaseUser, *, state: str = "", q: str = "") -> QuerySet:
    """The user's own requests, newest first, by state and by a role/resource fragment."""
    queryset = AccessRequest.objects.filter(user=user).select_related("revoked_by")
    queryset = queryset.order_by("-created")
    if state:
        queryset = queryset.filter(state=state)
    if q:
        # JSON lists as text: works alike on SQLite and PostgreSQL, and is only a filter.
        queryset = queryset.annotate(
            items_text=Concat(
                Cast("roles", TextField()), Cast("resources", TextField()), output_field=TextField()
            )
        ).filter(items_text__icontains=q.strip())
    return queryset


@dataclass(frozen=True)
class ReviewerInfo:
    """What the navigation and home page say about a user's reviewing."""

    reviews_anything: bool
    waiting: int


def reviewer_info(user: AbstractBaseUser, policies: PolicySet | None = None) -> ReviewerInfo:
    waiting = requests_needing_review(user).count()
    return ReviewerInfo(reviews_anything=reviews_anything(user, policies), waiting=waiting)


def reviews_by(user: AbstractBaseUser, limit: int = 10) -> list[Review]:
    return list(
        Review.objects.filter(reviewer=user)
        .select_related("request__user")
        .order_by("-created")[:limit]
    )


def usernames(ids: list[int]) -> list[str]:
    User = get_user_model()
    return sorted(User.objects.filter(pk__in=ids).values_list(User.USERNAME_FIELD, flat=True))


def reviewers_of(request: AccessRequest, policies: PolicySet | None = None) -> list[str]:
    """User names of everyone whose standing roles allow reviewing `request` (not its owner)."""
    return usernames(eligible_reviewer_ids(request, policies))


def approval_rules(policy: dict) -> list[str]:
    """The request's thresholds in words: "1 approval", "two-person: 2 approvals, 1 denial"."""

    def count(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    lines = []
    for t in policy.get("thresholds", []):
        parts = []
        if t["approve"]:
            parts.append(f"approved after {count(t['approve'], 'approval')}")
        if t["deny"]:
            parts.append(f"denied after {count(t['deny'], 'denial')}")
        text = ", ".join(parts) or "never decides"
        name = t.get("name") or ""
        if name and name != "default":
            text = f"{name}: {text}"
        if t.get("filter"):
            text += f" (counting reviews where {t['filter']})"
        lines.append(text[:1].upper() + text[1:])
    return lines


def timeline(request: AccessRequest, reviews: list[Review]) -> list[dict]:
    """What happened to a request, in order, for its detail page."""
    events = [{"at": request.created, "who": request.user, "what": "asked for access"}]
    for review in reviews:
        verb = "approved" if review.state == ReviewState.APPROVED else "denied"
        events.append({"at": review.created, "who": review.reviewer, "what": verb})
    if request.resolved_at and request.state != RequestState.PENDING:
        label = {
            RequestState.DENIED: "request denied",
            RequestState.WITHDRAWN: "withdrawn by the requester",
            RequestState.EXPIRED: "expired without a decision",
        }.get(request.state, "request approved")
        events.append({"at": request.resolved_at, "who": None, "what": label})
    if request.access_starts and request.state in (RequestState.APPROVED, RequestState.REVOKED):
        events.append({"at": request.access_starts, "who": None, "what": "access starts"})
    if request.revoked_at:
        events.append({"at": request.revoked_at, "who": request.revoked_by, "what": "ended access"})
    elif request.access_expires and request.state == RequestState.APPROVED:
        events.append({"at": request.access_expires, "who": None, "what": "access ends"})
    return sorted(events, key=lambda e: e["at"])


def end_cancels(continuations: list[AccessRequest], now: datetime | None = None) -> str:
    """What ending an access also ends, in words, from `grants.continuations` (the whole
    chain `access_request_revoke` ends with it); empty when nothing."""
    now = now or timezone.now()
    approved = sum(1 for e in continuations if e.state == RequestState.APPROVED)
    waiting = sum(1 for e in continuations if e.is_pending_at(now))
    parts = []
    if approved:
        parts.append(
            "ends its approved extension"
            if approved == 1
            else f"ends its {approved} approved extensions"
        )
    if waiting:
        parts.append(
            "cancels the extension waiting for review"
            if waiting == 1
            else f"cancels the {waiting} extensions waiting for review"
        )
    return " and ".join(parts)


def needing_review_ids(user: AbstractBaseUser) -> set:
    return set(requests_needing_review(user).values_list("pk", flat=True))


def visible_extensions(request: AccessRequest, visible: QuerySet) -> list[AccessRequest]:
    return list(visible.filter(extends=request).order_by("created"))
