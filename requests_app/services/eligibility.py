"""May the requester still have what they asked for: the one re-check made when access is
decided later than the request (a scheduled start, a review rule's approval)."""

from __future__ import annotations

from policies_app.engine import PolicySet, Subject
from policies_app.models import Resource
from policies_app.selectors import resource_ref, subject_for
from requests_app.models import AccessRequest


def item_refusal(
    subject: Subject, policies: PolicySet, *, role: str = "", resource: str = ""
) -> str:
    """Why the requester (`subject`) may not request `role` or `resource` now under
    `policies`, or "" when they may."""
    if role:
        if role not in policies.roles:
            return f"the role {role!r} no longer exists"
        if not subject.role_request_rules(role):
            return f"the requester's roles no longer allow requesting the role {role!r}"
        return ""
    kind, _, name = resource.partition("/")
    row = Resource.objects.filter(kind=kind, name=name).first()
    if row is None:
        return f"the resource {resource!r} no longer exists"
    if not subject.resource_request_rules(resource_ref(row))[0]:
        return f"the requester's roles no longer allow requesting the resource {resource!r}"
    return ""


def requester_refusal(request: AccessRequest) -> str:
    """Why the requester of `request` may have nothing from it now (their account is
    disabled), or "": checked before any item."""
    if not request.user.is_active:
        return "the requester's account is disabled"
    return ""


def request_items_refusal(request: AccessRequest, policies: PolicySet | None = None) -> str:
    """Why the requester of `request` could not ask for one of its items now (their account
    disabled, a role or resource their standing roles no longer allow), or ""."""
    if refusal := requester_refusal(request):
        return refusal
    policies = policies or PolicySet.load()
    subject = subject_for(request.user, policies)
    for role in request.roles:
        if refusal := item_refusal(subject, policies, role=role):
            return refusal
    for resource in request.resources:
        if refusal := item_refusal(subject, policies, resource=resource):
            return refusal
    return ""
