"""The two-person rule for policy changes (README "Two-person rule for policy changes").

A change is proposed (`policy_proposal_create`: its documents, field-level diff and the
fingerprint of every document it touches), then applied by someone else holding
`policies_app.approve_policyproposal` from a standing role (`may_approve_policy_changes`;
`policy_proposal_approve`), in the approval's own
transaction, through `policies_apply`; or rejected, or withdrawn by its proposer. When
POLICY_CHANGES_REQUIRE_APPROVAL is on, the surfaces (apply_policies, admin, API) propose
instead of applying (`direct_policy_change_check`); `policies_apply` itself stays callable
(tests, demos and the approval use it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import yaml
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accessportal.kernel.audit import AuditEntry, audit_record, audit_record_many
from accessportal.kernel.errors import (
    ApprovalRequired,
    NotAllowed,
    NotFound,
    ProposalNotPending,
    ProposalStale,
    ReasonRequired,
    SelfApprovalRefused,
    Unprocessable,
)
from accessportal.kernel.locking import provisioning_lock_all, retry_on_conflict
from policies_app.loader import PolicyFileError, PolicyPlan, plan_from_texts
from policies_app.models import PolicyProposal
from policies_app.policy_diff import FieldChange, documents_diff
from policies_app.selectors import standing_role_permissions
from policies_app.services.apply import ApplySummary, policies_apply, prune_problems
from policies_app.services.export import document_label, plan_documents, policies_export_documents

APPROVE_PERMISSION = "policies_app.approve_policyproposal"
VIEW_PERMISSION = "policies_app.view_policyproposal"
PROPOSE_PERMISSION = "policies_app.add_policyproposal"
MAX_SUMMARY = 500


def approval_required() -> bool:
    """Whether policy changes must be proposed and approved by a second person."""
    return bool(getattr(settings, "POLICY_CHANGES_REQUIRE_APPROVAL", False))


def direct_policy_change_check(*, surface: str) -> None:
    """Refuse a direct change on `surface` when the two-person rule is on (ApprovalRequired)."""
    if approval_required():
        raise ApprovalRequired(
            f"policy changes need a second person's approval (POLICY_CHANGES_REQUIRE_APPROVAL "
            f"is on): {surface}"
        )


def may_propose_policy_changes(user: AbstractBaseUser) -> bool:
    """Who may propose a policy change, on every surface (API, admin desk, and the user an
    `apply_policies --propose --as USER` names): holders of `add_policyproposal`."""
    return bool(user.is_active and user.has_perm(PROPOSE_PERMISSION))


def may_approve_policy_changes(user: AbstractBaseUser) -> bool:
    """Who may approve or reject a proposal (others' only: `_get_for_decision`): holders of
    `approve_policyproposal` through a standing role from the policy or an identity provider
    (`standing_role_permissions`). Not the superuser flag, not a direct or group permission
    (the account admin hands those out, outside the rule), not a role granted by a request
    (a grant never gives the right to review). Roles and their members are policy, changed
    only through this rule, so the right to approve is itself two-person controlled."""
    return APPROVE_PERMISSION in standing_role_permissions(user)


@dataclass
class PolicyChange:
    """What a plan would change: the diff, and the touched documents' fingerprint."""

    documents: list[dict]
    changes: list[FieldChange]
    fingerprint: dict[str, str | None]

    def lines(self) -> list[str]:
        return [c.line() for c in self.changes]


def _digest(doc: dict | None) -> str | None:
    if doc is None:
        return None
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _current(plan_labels: set[str], prune: bool) -> dict[str, dict]:
    """The stored documents the change touches: those it names, and with `prune` every
    document of a kind prune deletes (all but users)."""
    users = frozenset(label.split(" ", 1)[1] for label in plan_labels if label.startswith("user "))
    return {
        label: doc
        for doc in policies_export_documents(users=users)
        if (label := document_label(doc)) in plan_labels or (prune and doc["kind"] != "user")
    }


def policy_change_preview(*, plan: PolicyPlan, prune: bool = False) -> PolicyChange:
    """The field-level diff of `plan` against what is stored (writes nothing)."""
    documents = plan_documents(plan)
    proposed = {document_label(d): d for d in documents}
    current = _current(set(proposed), prune)
    touched = set(proposed) | set(current)
    return PolicyChange(
        documents=documents,
        changes=documents_diff(current, proposed),
        fingerprint={label: _digest(current.get(label)) for label in sorted(touched)},
    )


def _plan(proposal: PolicyProposal) -> PolicyPlan:
    text = yaml.safe_dump_all(proposal.documents, sort_keys=False, allow_unicode=True)
    return plan_from_texts([(f"proposal {proposal.pk}", text)])


@retry_on_conflict
@transaction.atomic
def policy_proposal_create(
    *,
    plan: PolicyPlan,
    proposer: AbstractBaseUser,
    prune: bool = False,
    source: str,
    summary: str = "",
    origin: str = "",
) -> PolicyProposal:
    """Store a proposed change of checked `plan` for another person to approve; audited.
    `origin` (CLI): who ran the command, as the operating system names them.

    NotAllowed unless `may_propose_policy_changes`; Unprocessable when it changes nothing;
    PolicyFileError when `prune` would break a rule."""
    if not may_propose_policy_changes(proposer):
        raise NotAllowed(f"proposing policy changes needs the {PROPOSE_PERMISSION} permission")
    if prune and (problems := prune_problems(plan)):
        raise PolicyFileError(problems)
    change = policy_change_preview(plan=plan, prune=prune)
    if not change.changes:
        raise Unprocessable("the proposal changes nothing: the policy already says this")
    proposal = PolicyProposal.objects.create(
        documents=change.documents,
        prune=prune,
        source=source,
        origin=origin[:200],
        summary=summary.strip()[:MAX_SUMMARY],
        diff=[c.as_dict() for c in change.changes],
        base_fingerprint=change.fingerprint,
        proposed_by=proposer,
    )
    audit_record(
        action="policy_proposal.created",
        target_type="policy_proposal",
        target_id=str(proposal.pk),
        actor=proposer,
        data={"source": source, "origin": origin, "prune": prune, "diff": change.lines()},
    )
    return proposal


def proposals_visible_to(user: AbstractBaseUser) -> QuerySet[PolicyProposal]:
    """Proposals `user` may see: their own; all for approvers and viewers."""
    rows = PolicyProposal.objects.select_related("proposed_by", "decided_by")
    # Seeing is not deciding: any holder of the permission sees them (and is told, on
    # deciding, that the right must come from a standing role).
    if user.has_perm(APPROVE_PERMISSION) or user.has_perm(VIEW_PERMISSION):
        return rows
    return rows.filter(Q(proposed_by=user.pk))


def _get_for_decision(proposal_id: int, user: AbstractBaseUser) -> PolicyProposal:
    """Lock the proposal; the caller must see it (404), hold the approve permission (403),
    not be its proposer (403, superusers included), and it must be pending and its proposer
    still active (409: a deactivated proposer's proposals are withdrawn)."""
    proposal = (
        proposals_visible_to(user).select_for_update(of=("self",)).filter(pk=proposal_id).first()
    )
    if proposal is None:
        raise NotFound("no such policy proposal")
    if proposal.proposed_by_id == user.pk:
        raise SelfApprovalRefused("you proposed this change: another person must decide it")
    if not may_approve_policy_changes(user):
        raise NotAllowed(
            f"deciding policy proposals needs the {APPROVE_PERMISSION} permission from a "
            "standing role"
        )
    if proposal.state != PolicyProposal.State.PENDING:
        raise ProposalNotPending(f"the proposal is {proposal.state.lower()}, not pending")
    if not proposal.proposed_by.is_active:
        raise ProposalNotPending("the proposer's account is deactivated: the proposal lapsed")
    return proposal


def _decide(proposal: PolicyProposal, state: str, user, reason: str) -> None:
    proposal.state = state
    proposal.decided_by = user
    proposal.decided_at = timezone.now()
    proposal.decision_reason = reason
    proposal.save(update_fields=["state", "decided_by", "decided_at", "decision_reason"])


@retry_on_conflict
@transaction.atomic
def _approve(proposal_id: int, approver, reason: str) -> ApplySummary | ProposalStale:
    proposal = _get_for_decision(proposal_id, approver)
    # Approvals run one at a time (PostgreSQL): the fingerprint read below sees what the one
    # before committed, and `policies_apply` takes this lock anyway.
    provisioning_lock_all()
    try:
        plan = _plan(proposal)
        fresh = policy_change_preview(plan=plan, prune=proposal.prune).fingerprint
    except PolicyFileError as err:  # a role it names was deleted since
        fresh, problems = None, err.problems
    else:
        problems = []
    if fresh != proposal.base_fingerprint:
        moved = sorted(
            label
            for label in set(proposal.base_fingerprint) | set(fresh or {})
            if (fresh or {}).get(label, "?") != proposal.base_fingerprint.get(label, "?")
        )
        _decide(proposal, PolicyProposal.State.STALE, approver, reason)
        audit_record(
            action="policy_proposal.stale",
            target_type="policy_proposal",
            target_id=str(proposal.pk),
            actor=approver,
            data={"changed_since": moved, "problems": problems},
        )
        what = ", ".join(moved) or "; ".join(problems)
        return ProposalStale(
            f"the policy changed since this was proposed ({what}): nothing was applied; "
            "propose the change again"
        )
    # Decided first: the apply ends by taking the audit chain head, after which only
    # appends may follow (tests/requests_app/test_audit_head_last.py).
    _decide(proposal, PolicyProposal.State.APPLIED, approver, reason)
    summary = policies_apply(plan=plan, actor=approver, prune=proposal.prune)
    audit_record(
        action="policy_proposal.applied",
        target_type="policy_proposal",
        target_id=str(proposal.pk),
        actor=approver,
        data={
            "proposed_by": proposal.proposed_by.get_username(),
            "approved_by": approver.get_username(),
            "reason": reason,
            "diff": [FieldChange(**c).line() for c in proposal.diff],
            "summary": summary.lines(),
        },
    )
    return summary


def policy_proposal_approve(
    *, proposal_id: int, approver: AbstractBaseUser, reason: str = ""
) -> ApplySummary:
    """Apply a pending proposal as `approver`, who must hold the approve permission and not
    be its proposer. If a document it touches changed since it was proposed, the proposal
    becomes STALE (that is saved) and ProposalStale is raised: nothing is applied."""
    outcome = _approve(proposal_id, approver, reason.strip())
    if isinstance(outcome, ProposalStale):
        raise outcome
    return outcome


@retry_on_conflict
@transaction.atomic
def policy_proposal_reject(
    *, proposal_id: int, approver: AbstractBaseUser, reason: str
) -> PolicyProposal:
    """Reject a pending proposal, with a reason; same rights as approving."""
    proposal = _get_for_decision(proposal_id, approver)
    if not reason.strip():
        raise ReasonRequired("say why the change is rejected", field="reason")
    _decide(proposal, PolicyProposal.State.REJECTED, approver, reason.strip())
    audit_record(
        action="policy_proposal.rejected",
        target_type="policy_proposal",
        target_id=str(proposal.pk),
        actor=approver,
        data={"proposed_by": proposal.proposed_by.get_username(), "reason": reason.strip()},
    )
    return proposal


@retry_on_conflict
@transaction.atomic
def policy_proposal_withdraw(*, proposal_id: int, user: AbstractBaseUser) -> PolicyProposal:
    """The proposer takes back their pending proposal."""
    proposal = (
        proposals_visible_to(user).select_for_update(of=("self",)).filter(pk=proposal_id).first()
    )
    if proposal is None:
        raise NotFound("no such policy proposal")
    if proposal.proposed_by_id != user.pk:
        raise NotAllowed("only the person who proposed a change may withdraw it")
    if proposal.state != PolicyProposal.State.PENDING:
        raise ProposalNotPending(f"the proposal is {proposal.state.lower()}, not pending")
    _decide(proposal, PolicyProposal.State.WITHDRAWN, user, "")
    audit_record(
        action="policy_proposal.withdrawn",
        target_type="policy_proposal",
        target_id=str(proposal.pk),
        actor=user,
    )
    return proposal


def policy_proposals_withdraw_for(
    *, user_id: object, actor, reason: str, audit: list[AuditEntry] | None = None
) -> list[int]:
    """Withdraw every pending proposal of `user_id` (deprovisioning: a departed person's
    change is never applied after they leave); audited with `reason`. Runs in the caller's
    transaction; with `audit`, the events are appended there for the caller to record
    last (`deprovision_locked`). Returns the ids withdrawn."""
    rows = list(
        PolicyProposal.objects.select_for_update(of=("self",))
        .filter(proposed_by_id=user_id, state=PolicyProposal.State.PENDING)
        .order_by("pk")
    )
    now = timezone.now()
    for proposal in rows:
        proposal.state = PolicyProposal.State.WITHDRAWN
        proposal.decided_at = now
        proposal.decision_reason = reason
        proposal.save(update_fields=["state", "decided_at", "decision_reason"])
        entry = AuditEntry(
            "policy_proposal.withdrawn",
            "policy_proposal",
            str(proposal.pk),
            actor,
            {"reason": reason, "deprovisioned": True},
        )
        if audit is None:
            audit_record_many([entry])
        else:
            audit.append(entry)
    return [p.pk for p in rows]


def proposal_lines(proposal: PolicyProposal) -> list[str]:
    """The stored diff, one line per change, as `apply_policies` prints it."""
    return [FieldChange(**c).line() for c in proposal.diff]
