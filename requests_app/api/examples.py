"""OpenAPI request and response examples, in one place so the views stay short.

The values follow the demo (examples/demo.yaml): alice asks for db-admin, bob reviews.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

REQUEST_ID = "6f1c1b7e-2d0a-4c39-9a53-3d2f3e1f9b10"
EXTENSION_ID = "0b7a4f52-91c3-4e0d-8d1e-5a6b2c9f7e34"

REVIEW = {
    "reviewer": "bob",
    "state": "APPROVED",
    "reason": "matches INC-4242",
    "assume_start_time": None,
    "created": "2026-05-01T10:05:00Z",
}

PENDING = {
    "id": REQUEST_ID,
    "user": "alice",
    "roles": ["db-admin"],
    "resources": [],
    "state": "PENDING",
    "reason": "INC-4242: rotate the billing database credentials",
    "created": "2026-05-01T10:00:00Z",
    "expires": "2026-05-02T10:00:00Z",
    "requested_duration": 7200,
    "max_duration": 7200,
    "assume_start_time": None,
    "access_starts": None,
    "access_expires": None,
    "suggested_reviewers": ["bob"],
    "extends": None,
    "thresholds": [
        {"name": "default", "filter": "", "approve": 1, "deny": 1, "approvals": 0, "denials": 0}
    ],
    "reviews": [],
    "resolved_at": None,
    "resolved_by": None,
    "resolve_reason": "",
    "revoked_at": None,
    "revoked_by": None,
    "revoke_reason": "",
    "break_glass": None,
}

APPROVED = {
    **PENDING,
    "state": "APPROVED",
    "access_starts": "2026-05-01T10:05:00Z",
    "access_expires": "2026-05-01T12:05:00Z",
    "thresholds": [{**PENDING["thresholds"][0], "approvals": 1}],
    "reviews": [REVIEW],
    "resolved_at": "2026-05-01T10:05:00Z",
    "resolved_by": "bob",
    "resolve_reason": "matches INC-4242",
}

GRANT = {
    "id": 17,
    "user": "alice",
    "role": "db-admin",
    "resource": None,
    "starts": "2026-05-01T10:05:00Z",
    "expires": "2026-05-01T12:05:00Z",
    "revoked": False,
    "revoked_at": None,
    "first_used": "2026-05-01T10:07:12Z",
    "last_used": "2026-05-01T11:40:03Z",
    "active": True,
    "status": "active",
    "provisioning": [
        {
            "target": "role billing_admin",
            "provisioner": "postgres",
            "state": "applied",
            "error": "",
            "updated": "2026-05-01T10:05:02Z",
        },
        {
            "target": "group cn=db-admins,ou=groups,dc=example,dc=com",
            "provisioner": "ldap",
            "state": "failed",
            "error": "LDAP server unreachable: timed out after 10 s",
            "updated": "2026-05-01T10:05:12Z",
        },
    ],
    "request": REQUEST_ID,
}


def page(*items: dict) -> dict:
    return {"count": len(items), "next": None, "previous": None, "results": list(items)}


def example(name: str, value: dict, *, request: bool = False, status: int = 200, summary=""):
    return OpenApiExample(
        name,
        value=value,
        summary=summary or name,
        request_only=request,
        response_only=not request,
        status_codes=None if request else [str(status)],
    )


def error(name: str, detail: str, code: str, status: int, field: str | None = None):
    # A field to blame comes with the field-errors map (requests_app/api/exceptions.py).
    body = {"detail": detail, "code": code}
    if field:
        body |= {"field": field, "errors": {field: [detail]}}
    return example(name, body, status=status)


NOT_FOUND = error("Not visible to you", "no such access request", "not_found", 404)

ME = [
    example(
        "alice",
        {
            "user": "alice",
            "email": "alice@example.com",
            "standing_roles": ["engineer"],
            "active_grants": [GRANT],
            "requestable_roles": ["db-admin", "dev-admin"],
            "can_request_resources": True,
            "is_reviewer": False,
        },
    )
]

ROLES = [
    example(
        "Roles for alice",
        page(
            {
                "name": "db-admin",
                "description": "Administrator of production databases.",
                "requestable": True,
                "held": False,
            },
            {
                "name": "engineer",
                "description": "Every engineer.",
                "requestable": False,
                "held": True,
            },
        ),
    )
]

RESOURCES = [
    example(
        "Production nodes alice may request",
        page(
            {
                "id": "node/db-prod-1",
                "kind": "node",
                "name": "db-prod-1",
                "labels": {"env": "prod", "team": "pay"},
                "description": "",
            }
        ),
    )
]

REQUEST_CREATE = [
    example(
        "A role for two hours",
        {
            "roles": ["db-admin"],
            "reason": "INC-4242: rotate the billing database credentials",
            "max_duration": "2h",
        },
        request=True,
    ),
    example(
        # No fixed `assume_start_time`: an example must stay valid as time passes.
        "One resource, dry run",
        {
            "resources": ["node/db-prod-1"],
            "reason": "INC-4243: disk full",
            "max_duration": 3600,
            "request_ttl": "4h",
            "suggested_reviewers": ["carol"],
            "dry_run": True,
        },
        request=True,
    ),
    example("Created", PENDING, status=201),
    example("Dry run (nothing stored)", {**PENDING, "id": None}, status=200),
    error(
        "Reason required",
        "a reason is required for this request (Ticket number and why you need it)",
        "reason_required",
        422,
        "reason",
    ),
    example(
        "Unknown field",
        {
            "detail": "roles_: unknown field (allowed: roles, resources, ...)",
            "code": "invalid",
            "field": "roles_",
            "errors": {"roles_": ["unknown field (allowed: roles, resources, ...)"]},
        },
        status=400,
    ),
    error(
        "Role not allowed",
        "you may not request the role 'root' (it does not exist or no role of yours allows "
        "requesting it)",
        "not_allowed",
        403,
        "roles",
    ),
]

REQUEST_LIST = [example("Pending requests bob may review", page(PENDING))]
REQUEST_DETAIL = [example("Approved", {**APPROVED, "requester_unused_grants": []}), NOT_FOUND]

REVIEW_CREATE = [
    example("Approve", {"state": "APPROVED", "reason": "matches INC-4242"}, request=True),
    example("Deny", {"state": "DENIED", "reason": "no ticket"}, request=True),
    example("Approved by this review", APPROVED, status=201),
    error("Own request", "nobody may review their own request", "self_review", 403),
    NOT_FOUND,
    error("Already reviewed", "you have already reviewed this request", "already_reviewed", 409),
    error("No longer pending", "this request is approved, no longer pending", "not_pending", 409),
]

WITHDRAW = [
    example("Withdraw", {"reason": "fixed without it"}, request=True),
    example(
        "Withdrawn",
        {**PENDING, "state": "WITHDRAWN", "resolved_by": "alice", "resolve_reason": "fixed"},
    ),
    error("Not the requester", "only the requester may withdraw a request", "not_allowed", 403),
    NOT_FOUND,
    error("No longer pending", "this request is approved, no longer pending", "not_pending", 409),
]


def resolve(state: str) -> list[OpenApiExample]:
    """Examples of a direct approval or denial by a holder of resolve_accessrequest."""
    resolved = {**PENDING, "state": state, "resolved_at": "2026-05-01T10:03:00Z"}
    if state == "APPROVED":
        resolved = {**APPROVED, "reviews": [], "thresholds": PENDING["thresholds"]}
    return [
        example("With a reason", {"reason": "CHG-77 approved by the CAB"}, request=True),
        example("Resolved", {**resolved, "resolved_by": "sam", "resolve_reason": "CHG-77"}),
        error(
            "Reason missing",
            "a reason is required to resolve a request",
            "reason_required",
            422,
            "reason",
        ),
        error("Own request", "nobody may resolve their own request", "self_review", 403),
        error("No permission", "you may not approve or deny requests directly", "not_allowed", 403),
        NOT_FOUND,
        error("No longer pending", "this request is denied, no longer pending", "not_pending", 409),
    ]


REVOKE = [
    example("With a reason", {"reason": "done early"}, request=True),
    example(
        "Revoked",
        {
            **APPROVED,
            "state": "REVOKED",
            "revoked_at": "2026-05-01T11:00:00Z",
            "revoked_by": "alice",
            "revoke_reason": "done early",
        },
    ),
    error(
        "Reason missing", "a reason is required to revoke access", "reason_required", 422, "reason"
    ),
    error("Not allowed", "you may not revoke this access", "not_allowed", 403),
    NOT_FOUND,
    error(
        "Not approved",
        "only approved access can be revoked; this request is pending",
        "not_approved",
        409,
    ),
]

EXTENSION = {
    **PENDING,
    "id": EXTENSION_ID,
    "reason": "INC-4242: rotation still running",
    "created": "2026-05-01T11:50:00Z",
    "expires": "2026-05-02T11:50:00Z",
    "requested_duration": 3600,
    "max_duration": 3600,
    "extends": REQUEST_ID,
}

EXTEND = [
    example(
        "One more hour",
        {"reason": "INC-4242: rotation still running", "max_duration": "1h"},
        request=True,
    ),
    example(
        "Check first (dry run)",
        {"reason": "INC-4242", "max_duration": "4h", "request_ttl": "30m", "dry_run": True},
        request=True,
    ),
    example("Extension created", EXTENSION, status=201),
    example("Dry run (nothing stored)", {**EXTENSION, "id": None}, status=200),
    error(
        "Reason required",
        "a reason is required for this request (Ticket number and why you need it)",
        "reason_required",
        422,
        "reason",
    ),
    error("Not the requester", "only the requester may extend their access", "not_allowed", 403),
    NOT_FOUND,
    error(
        "Access already ended",
        "this access already ended: ask for it again with a new request",
        "access_ended",
        409,
    ),
    error(
        "Extension already pending",
        f"an extension of this access is already waiting for review (request {EXTENSION_ID})",
        "extension_pending",
        409,
    ),
]

GRANTS = [example("alice's active grants", page(GRANT))]

PROVISION_TARGET = {
    "id": 3,
    "label": "role billing_admin",
    "provisioner": "postgres",
    "config": {"dsn_env": "PROVISION_BILLING_DB_DSN", "role": "billing_admin"},
    "managed": False,
    "roles": ["db-admin"],
    "resources": [],
    "retired": False,
    "retired_at": None,
    "last_reconciled_at": "2026-05-01T10:00:03Z",
    "reconcile_lag_seconds": 1.2,
    "last_reconcile_error": "",
    "reconcile_repairs": 0,
    "assignments": {"pending": 0, "applied": 12, "failed": 1, "revoking": 0, "removed": 40},
    "failing": 1,
}

PROVISION_TARGETS = [example("Targets and their reconciler", page(PROVISION_TARGET))]
PROVISION_TARGET_ONE = [example("A target", PROVISION_TARGET)]
RECONCILE_QUEUED = [example("Queued", {"target": 3, "queued": True}, status=202)]

ACCESS_CHECK = [
    example(
        "Granted role",
        {
            "allowed": True,
            "expires": "2026-05-01T12:05:00Z",
            "via": "grant",
            "user": "alice",
            "role": "db-admin",
            "resource": None,
            "checked_at": "2026-05-01T11:00:00Z",
        },
    ),
    example(
        "No access to a resource",
        {
            "allowed": False,
            "expires": None,
            "via": None,
            "user": "alice",
            "role": None,
            "resource": "db/billing",
            "checked_at": "2026-05-01T13:00:00Z",
        },
        summary="No access",
    ),
    error(
        "Role and resource both given", "give exactly one of role or resource", "unprocessable", 422
    ),
    example(
        "Someone else's access",
        {
            "detail": "checking another user's access needs the requests_app.check_access "
            "permission",
            "code": "not_allowed",
        },
        status=403,
    ),
    error("Unknown user", "no such user", "not_found", 404),
]

AUDIT = [
    example(
        "Events",
        page(
            {
                "seq": 42,
                "created": "2026-05-01T10:05:00Z",
                "actor": "bob",
                "action": "review.submitted",
                "target_type": "access_request",
                "target_id": REQUEST_ID,
                "data": {"state": "APPROVED", "reason": "matches INC-4242", "thresholds": [0]},
                "prev_hash": "9c1e...e0",
                "hash": "4b7d...a1",
            }
        ),
    ),
    example(
        "Not an auditor",
        {
            "detail": "reading the audit log needs the requests_app.view_auditevent permission",
            "code": "not_allowed",
        },
        status=403,
    ),
]

EVIDENCE = [
    example(
        "Bundle",
        {
            "format": "accessportal-evidence/1",
            "generated": "2026-05-02T09:00:00Z",
            "request": {
                "id": REQUEST_ID,
                "user": "alice",
                "state": "REVOKED",
                "reason": {"$purged": "5e3c...9a"},
                "roles": ["db-admin"],
            },
            "policy": {"snapshot": {"thresholds": [{"approve": 1, "deny": 1}]}, "roles": []},
            "reviews": [
                {
                    "id": 7,
                    "reviewer": "bob",
                    "reviewer_id": 2,
                    "state": "APPROVED",
                    "reason": "matches INC-4242",
                }
            ],
            "grants": [
                {
                    "id": 11,
                    "role": "db-admin",
                    "first_used": "2026-05-01T10:07:00Z",
                    "last_used": "2026-05-01T11:40:00Z",
                }
            ],
            "notifications": [
                {
                    "event": "request.approved",
                    "state": "SENT",
                    "attempts": 1,
                    "body_sha256": "77aa...01",
                    "deliveries": [],
                }
            ],
            "events": [{"seq": 42, "v": 2, "action": "request.created", "hash": "4b7d...a1"}],
            "chain": {
                "from_seq": 42,
                "to_seq": 60,
                "links": [{"seq": 43, "v": 2, "target": "e1f0...7c", "fields": "c0de...42"}],
                "v1_links": 0,
            },
            "anchor": {
                "seq": 60,
                "hash": "aa01...ff",
                "time": "2026-05-02T09:00:00Z",
                "jws": "eyJhbGciOiJFZDI1NTE5In0...",
                "alg": "Ed25519",
                "key_id": "ZmqM3djWzjfOC86xd-zfKoHDwyOM7VIeUCRAspEbzkI",
            },
        },
    ),  # fmt: skip
    example(
        "Not an auditor",
        {
            "detail": "evidence bundles are for auditors (requests_app.view_auditevent)",
            "code": "not_allowed",
        },
        status=403,
    ),
    example(
        "Anchors not configured",
        {
            "detail": "evidence needs signed audit anchors: AUDIT_ANCHOR_FILE is not set "
            "(docs/deploy.md)",
            "code": "anchors_not_configured",
        },
        status=503,
    ),
    example(
        "Not yet anchored (see Retry-After)",
        {
            "detail": "no signed audit anchor covers this request's last event (#61) yet: one "
            "was asked of the worker; retry in 30 seconds",
            "code": "not_yet_anchored",
        },
        status=503,
    ),
]

CREDENTIAL_CLAIMS = {
    "iss": "accessportal",
    "sub": "alice",
    "aud": "accessportal",
    "iat": 1777633200,
    "nbf": 1777633200,
    "exp": 1777633500,
    "jti": "1d0e6f0a-5b6e-4f57-b0a4-4c1d2b8e9a11",
    "roles": ["engineer"],
    "grants": [{"role": "db-admin", "expires": 1777640700, "request": REQUEST_ID}],
}

CREDENTIAL = [
    example(
        "A credential for alice",
        {
            "token": "eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiIsInR5cCI6IkpXVCJ9.eyJpc3MiOi4uLn0.c2ln",
            "expires": "2026-05-01T11:05:00Z",
            "kid": "80GAk59FoOMprFuDR-2kXBJnMS6YC4Kkq2B8e28XjHY",
            "claims": CREDENTIAL_CLAIMS,
        },
        status=201,
    ),
    # The default audience (CREDENTIAL_AUDIENCE): others must be in CREDENTIAL_AUDIENCES.
    example("Naming the audience", {"audience": "accessportal"}, request=True),
]


BREAK_GLASS = {
    **APPROVED,
    "reason": "INC-4250: billing database down, paging did not reach anyone",
    "access_expires": "2026-05-01T11:00:00Z",
    "thresholds": PENDING["thresholds"],
    "reviews": [],
    "resolved_at": "2026-05-01T10:00:00Z",
    "resolved_by": "alice",
    "resolve_reason": "INC-4250: billing database down, paging did not reach anyone",
    "break_glass": {
        "state": "AWAITING",
        "status": "awaiting ratification",
        "deadline": "2026-05-01T11:00:00Z",
        "window_expires": "2026-05-01T12:00:00Z",
        "notify": ["security"],
        "decided_at": None,
        "decided_by": None,
        "decision_reason": "",
    },
}

REQUEST_CREATE += [
    example(
        "Break glass",
        {
            "roles": ["db-admin"],
            "reason": "INC-4250: billing database down, paging did not reach anyone",
            "max_duration": "2h",
            "break_glass": True,
        },
        request=True,
    ),
    example("Break-glass access, approved at once", BREAK_GLASS, status=201),
    error(
        "Break-glass not allowed",
        "break-glass is not allowed for dev-admin: no role of yours allows break-glass access "
        "to it (ask for it with an ordinary request)",
        "break_glass_not_allowed",
        403,
        "break_glass",
    ),
    error(
        "A break-glass use awaits ratification",
        f"your break-glass access {REQUEST_ID} is still awaiting ratification: a reviewer must "
        "ratify or reject it before you may break glass again",
        "break_glass_unratified",
        409,
    ),
]

RATIFY = [
    example("Ratify", {"verdict": "ratify", "reason": "INC-4250 is real"}, request=True),
    example("Reject", {"verdict": "reject", "reason": "no such incident"}, request=True),
    example(
        "Ratified: access runs to its approved window",
        {
            **BREAK_GLASS,
            "access_expires": "2026-05-01T12:00:00Z",
            "break_glass": {
                **BREAK_GLASS["break_glass"],
                "state": "RATIFIED",
                "status": "ratified",
                "decided_at": "2026-05-01T10:20:00Z",
                "decided_by": "bob",
                "decision_reason": "INC-4250 is real",
            },
        },
    ),
    error(
        "Reason missing",
        "a reason is required to ratify break-glass access",
        "reason_required",
        422,
        "reason",
    ),
    error("Own break-glass", "nobody may review their own request", "self_review", 403),
    error(
        "Not a reviewer", "your roles do not allow you to review this request", "not_allowed", 403
    ),
    NOT_FOUND,
    error(
        "Already judged",
        "this break-glass use was already ratified",
        "not_awaiting_ratification",
        409,
    ),
]

# Policy proposals (README "Two-person rule for policy changes").
_OPS_YAML = (
    "kind: role\nname: ops\nspec:\n  allow:\n    request:\n      roles: [db-admin, dev-admin]\n"
    "      max_duration: 5d\n"
)
PROPOSAL = {
    "id": 7,
    "state": "PENDING",
    "source": "api",
    "summary": "CHG-42: ops may request dev-admin, for up to 5 days",
    "prune": False,
    "proposed_by": "dana",
    "created": "2026-05-01T10:00:00Z",
    "diff": [
        {
            "document": "role ops",
            "path": "spec.allow.request.roles",
            "op": "added",
            "before": None,
            "after": "dev-admin",
            "line": "role ops: spec.allow.request.roles: + dev-admin",
        },
        {
            "document": "role ops",
            "path": "spec.allow.request.max_duration",
            "op": "changed",
            "before": "3d",
            "after": "5d",
            "line": "role ops: spec.allow.request.max_duration: 3d → 5d",
        },
    ],
    "documents": [
        {
            "kind": "role",
            "name": "ops",
            "spec": {
                "allow": {"request": {"roles": ["db-admin", "dev-admin"], "max_duration": "5d"}}
            },
        }
    ],
    "decided_by": None,
    "decided_at": None,
    "decision_reason": "",
}
_DECIDED = {"decided_by": "erik", "decided_at": "2026-05-01T11:00:00Z"}
PROPOSALS = [example("Pending proposals", page(PROPOSAL))]
PROPOSAL_ONE = [example("A pending proposal", PROPOSAL)]
PROPOSAL_CREATE_BODIES = [
    example(
        "YAML",
        {"yaml": _OPS_YAML, "summary": PROPOSAL["summary"], "prune": False},
        request=True,
    ),
    example("Documents", {"documents": PROPOSAL["documents"]}, request=True),
]
PROPOSAL_CREATED = [example("Proposed", PROPOSAL, status=201)]
PROPOSAL_DECISION_BODY = example("Reason", {"reason": "CHG-42 reviewed"}, request=True)
PROPOSAL_APPLIED = [
    example(
        "Applied",
        {**PROPOSAL, "state": "APPLIED", **_DECIDED, "decision_reason": "CHG-42 reviewed"},
    ),
    error(
        "The policy moved under it",
        "the policy changed since this was proposed (role ops): nothing was applied; "
        "propose the change again",
        "proposal_stale",
        409,
    ),
]
PROPOSAL_REJECTED = [
    example(
        "Rejected",
        {**PROPOSAL, "state": "REJECTED", **_DECIDED, "decision_reason": "5 days is too long"},
    )
]
PROPOSAL_WITHDRAWN = [
    example("Withdrawn", {**PROPOSAL, "state": "WITHDRAWN", "decided_by": "dana"}),
]


def csv_example(name: str, text: str) -> OpenApiExample:
    return OpenApiExample(
        name, value=text, summary=name, response_only=True, media_type="text/csv",
        status_codes=["200"],
    )  # fmt: skip


REQUESTS_EXPORT = [
    csv_example(
        "Approved in May",
        "id,user,state,roles,resources,reason,created,expires,requested_duration,"
        "max_duration,assume_start_time,access_starts,access_expires,reviews,resolved_at,"
        "resolved_by,resolve_reason,revoked_at,revoked_by,revoke_reason,extends\r\n"
        "3f2c9d1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f,alice,APPROVED,db-admin,,INC-4242: rotate "
        "billing credentials,2026-05-01T10:00:00Z,2026-05-02T10:00:00Z,7200,7200,,"
        "2026-05-01T10:05:00Z,2026-05-01T12:05:00Z,bob:APPROVED,2026-05-01T10:05:00Z,,,,,,"
        "\r\n",
    )
]
AUDIT_EXPORT = [
    csv_example(
        "A request's creation",
        "seq,created,actor,action,target_type,target_id,data,prev_hash,hash,version\r\n"
        "1042,2026-05-01T10:00:00Z,alice,request.created,access_request,"
        '3f2c9d1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f,"{""roles"": [""db-admin""]}",'
        "5e2a9c0d1b3f4e6a7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b,"
        "9b1f0c2e7d3a4f5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b,2\r\n",
    )
]


# Access reviews (README "Access reviews").
_ACCESS_REVIEW_ITEM = {
    "id": 12,
    "run": 4,
    "access_review": "quarterly-prod",
    "deadline": "2026-04-15T09:00:00Z",
    "user": "alice",
    "role": "db-admin",
    "sources": ["policy", "sso:okta"],
    "returns_from": ["sso:okta"],
    "decision": "",
    "reason": "",
    "decided_by": "",
    "decided_at": None,
    "outcome": "",
    "note": "",
}
_ACCESS_REVIEW_DECIDED = _ACCESS_REVIEW_ITEM | {
    "decision": "REMOVE",
    "reason": "left the payments team",
    "decided_by": "carol",
    "decided_at": "2026-04-03T10:12:00Z",
    "outcome": "removed",
    "note": "removed here, but sso:okta gives it back on the next sign-in or directory push: "
    "remove it at the identity provider",
}
_ACCESS_REVIEW_RUN = {
    "id": 4,
    "name": "quarterly-prod",
    "state": "OPEN",
    "started": "2026-04-01T09:00:00Z",
    "started_by": "system:access-reviews",
    "deadline": "2026-04-15T09:00:00Z",
    "closed": None,
    "on_missed": "remove",
}
_ACCESS_REVIEW_ROW = {
    "user": "alice",
    "role": "db-admin",
    "sources": "policy, sso:okta",
    "decision": "REMOVE",
    "outcome": "removed",
    "decided_by": "carol",
    "decided_at": "2026-04-03T10:12:00+00:00",
    "reason": "left the payments team",
    "note": "",
}

ACCESS_REVIEW_ITEMS = [example("carol's open items", page(_ACCESS_REVIEW_ITEM))]
ACCESS_REVIEW_ITEM_ONE = [example("an open item", _ACCESS_REVIEW_ITEM)]
ACCESS_REVIEW_DECISION = [
    example("a reason", {"reason": "left the payments team"}, request=True),
    example("decided", _ACCESS_REVIEW_DECIDED),
    error("Own membership", "nobody reviews their own membership", "self_review", 403),
    error("Decided before", "this item was already decided (kept)", "conflict", 409),
    error("No reason", "give a reason for the decision", "reason_required", 422, "reason"),
]
ACCESS_REVIEW_RUNS = [example("runs", page(_ACCESS_REVIEW_RUN))]
ACCESS_REVIEW_RUN_ONE = [example("a run", _ACCESS_REVIEW_RUN)]
ACCESS_REVIEW_REPORT = [example("the report as JSON", [_ACCESS_REVIEW_ROW])]
