"""My requests: the history with filters, one request's page, withdrawing, ending access."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accessportal.kernel.choices import RequestState
from accessportal.kernel.errors import DomainError
from policies_app.engine import PolicySet
from policies_app.selectors import subject_for
from requests_app.models import AccessRequest, BreakGlass
from requests_app.portal import selectors
from requests_app.portal.forms import (
    EndAccessForm,
    RequestFilterForm,
    ReviewForm,
    WithdrawForm,
    add_domain_error,
)
from requests_app.portal.views.base import portal_render, portal_view, safe_next
from requests_app.services.endings import access_end, access_ends
from requests_app.services.extensions import extendable
from requests_app.services.grants import access_request_revoke, continuations, may_revoke
from requests_app.services.resolution import access_request_withdraw
from requests_app.services.reviews import may_review, review_reason_required, review_submit
from requests_app.services.thresholds import progress

PAGE_SIZE = 20
SELF_END_REASON = "ended early by the requester"


@require_GET
@portal_view
def request_list(request: HttpRequest) -> HttpResponse:
    form = RequestFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    queryset = selectors.my_requests(
        request.user, state=filters.get("state", ""), q=filters.get("q", "")
    )
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    ends = access_ends(page.object_list)
    for r in page.object_list:
        r.ending = ends.get(r.pk)
    query = request.GET.copy()
    query.pop("page", None)
    return portal_render(
        request,
        "portal/request_list.html",
        {"form": form, "page": page, "query": query.urlencode(), "filtered": bool(filters)},
    )


def visible_request(request: HttpRequest, pk) -> object:
    """The request if this user may see it; 404 otherwise (never 403: no probing)."""
    return get_object_or_404(
        AccessRequest.objects.visible_to(request.user).select_related(
            "user", "resolved_by", "revoked_by", "extends"
        ),
        pk=pk,
    )


def detail_context(request: HttpRequest, access_request, **forms) -> dict:
    user, now = request.user, timezone.now()
    access_request.ending = access_end(access_request, now)
    policies = PolicySet.load()
    subject = subject_for(user, policies)
    reviews = list(access_request.reviews.select_related("reviewer"))
    pending = access_request.is_pending_at(now)
    reviewed = any(r.reviewer_id == user.pk for r in reviews)
    own = access_request.user_id == user.pk
    active = access_request.is_access_live_at(now)
    visible = AccessRequest.objects.visible_to(user)
    extensions = selectors.visible_extensions(access_request, visible)
    can_extend = extendable(access_request, user, now) and not any(
        e.state == RequestState.PENDING for e in extensions
    )
    end_form = forms.get("end_form") or EndAccessForm()
    if active:  # tied to the reason field (aria-describedby): what ending it also ends
        cancels = selectors.end_cancels(continuations(access_request), now)
        end_form.fields["reason"].help_text = f"Ending it also {cancels}." if cancels else ""
    return {
        "r": access_request,
        "own": own,
        "nav": "request-detail" if own else "inbox",
        "reviews": reviews,
        "progress": progress(access_request.policy, reviews),
        "rules": selectors.approval_rules(access_request.policy),
        "timeline": selectors.timeline(access_request, reviews),
        "is_pending": pending,
        "active": active,
        "reviewers": selectors.reviewers_of(access_request, policies) if pending else [],
        "can_review": pending
        and not own
        and not reviewed
        and may_review(access_request, user, subject),
        "can_withdraw": own and pending,
        "can_end": active and may_revoke(access_request, user),
        "can_extend": can_extend,
        "extensions": extensions,
        "extends_visible": access_request.extends_id
        and visible.filter(pk=access_request.extends_id).exists(),
        "review_form": forms.get("review_form")
        or ReviewForm(reason_required=review_reason_required(access_request)),
        "end_form": end_form,
        "withdraw_form": forms.get("withdraw_form") or WithdrawForm(),
        **break_glass_context(access_request, now),
    }


def break_glass_context(access_request, now) -> dict:
    """A break-glass use's ratification, for its page; nothing for other requests."""
    glass = BreakGlass.objects.select_related("decided_by").filter(request=access_request).first()
    if glass is None:
        return {}
    return {
        "glass": glass,
        "glass_status": glass.status_at(now),
        "glass_timed_out": glass.timed_out_at(now),
    }


@require_GET
@portal_view
def request_detail(request: HttpRequest, pk) -> HttpResponse:
    access_request = visible_request(request, pk)
    context = detail_context(request, access_request)
    return portal_render(request, "portal/request_detail.html", context)


@require_POST
@portal_view
def request_withdraw(request: HttpRequest, pk) -> HttpResponse:
    access_request = visible_request(request, pk)
    form = WithdrawForm(request.POST)
    if form.is_valid():
        try:
            access_request_withdraw(
                request_id=access_request.pk, actor=request.user, reason=form.cleaned_data["reason"]
            )
        except DomainError as err:
            add_domain_error(form, err)
            access_request.refresh_from_db()
            context = detail_context(request, access_request, withdraw_form=form)
            return portal_render(request, "portal/request_detail.html", context, status=err.status)
        messages.success(request, "Request withdrawn. Nobody will review it now.")
    return redirect(safe_next(request, reverse("portal:request-detail", args=[access_request.pk])))


@require_POST
@portal_view
def request_end(request: HttpRequest, pk) -> HttpResponse:
    """End approved access now (the requester, an eligible reviewer, or revoke_grant)."""
    access_request = visible_request(request, pk)
    form = EndAccessForm(request.POST)
    if form.is_valid():
        reason = form.cleaned_data["reason"].strip()
        if not reason and access_request.user_id == request.user.pk:
            reason = SELF_END_REASON
        try:
            access_request_revoke(request_id=access_request.pk, actor=request.user, reason=reason)
        except DomainError as err:
            add_domain_error(form, err)
            access_request.refresh_from_db()
            context = detail_context(request, access_request, end_form=form)
            return portal_render(request, "portal/request_detail.html", context, status=err.status)
        items = ", ".join([*access_request.roles, *access_request.resources])
        messages.success(request, f"Access ended: {items} is no longer yours.")
    return redirect(safe_next(request, reverse("portal:request-detail", args=[access_request.pk])))


@require_POST
@portal_view
def request_review(request: HttpRequest, pk) -> HttpResponse:
    """Approve or deny, from the request's page or the inbox."""
    access_request = visible_request(request, pk)
    form = ReviewForm(request.POST, reason_required=review_reason_required(access_request))
    status = 400
    if form.is_valid():
        try:
            result = review_submit(
                request_id=access_request.pk,
                reviewer=request.user,
                state=form.cleaned_data["state"],
                reason=form.cleaned_data["reason"],
            )
        except DomainError as err:
            add_domain_error(form, err)
            status = err.status
        else:
            verb = "approved" if form.cleaned_data["state"] == "APPROVED" else "denied"
            outcome = {
                RequestState.APPROVED: "It is approved: the access starts now.",
                RequestState.DENIED: "It is denied.",
            }.get(result.state, "It waits for more reviews.")
            if result.state == RequestState.APPROVED and result.access_starts > timezone.now():
                outcome = "It is approved: the access starts at the time asked for."
            messages.success(
                request, f"You {verb} {access_request.user.get_username()}'s request. {outcome}"
            )
            return redirect(
                safe_next(request, reverse("portal:request-detail", args=[access_request.pk]))
            )
    access_request.refresh_from_db()
    context = detail_context(request, access_request, review_form=form)
    context["review_failed"] = True
    return portal_render(request, "portal/request_detail.html", context, status=status)
