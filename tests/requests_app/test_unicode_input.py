"""Unicode edge cases in reasons and names, at the service level, on both back ends.

Every service that takes a reason either stores it exactly (and in its audit event, with
the chain intact) or refuses it with ValidationFailed; nothing crashes and nothing is
half-written. NUL is refused on SQLite too, although SQLite could store it, so both back
ends behave alike.
"""

from __future__ import annotations

import pytest

from accessportal.kernel.audit import audit_verify
from accessportal.kernel.errors import NotAllowed, ValidationFailed
from accessportal.kernel.models import AuditEvent
from requests_app.models import AccessRequest, OutboxMessage, Review
from requests_app.services.access_requests import access_request_create
from requests_app.services.grants import access_request_revoke
from requests_app.services.resolution import access_request_resolve, access_request_withdraw
from requests_app.services.reviews import review_submit

ACCEPTED = {
    "scripts": "INC-42 — заявка, 数据库, ΔΣ, Ünïcödé, e\u0301 (combining)",
    "rtl-letters": "אישור גישה לבסיס הנתונים — طلب وصول",
    "rtl-marks": "ticket \u200f#42\u200e ok",  # RLM / LRM marks only reorder neutrals
    "emoji-4-byte": "on call 😀👩🏽‍💻🔥 \U0001f9d1\u200d\U0001f680",
    "newlines-tabs": "line one\n\tline two\r\nline three",
    "ascii-4096": "a" * 4096,
    "emoji-4096": "😀" * 4096,  # 4096 characters, 16 KiB of UTF-8
    "sql-and-html": "'); DROP TABLE requests_app_auditevent; -- <script>alert(1)</script>",
}
REFUSED = {
    "nul": "INC-1\x00 hidden",
    "only-nul": "\x00",
    "ascii-4097": "a" * 4097,
    "emoji-4097": "😀" * 4097,
    "rtl-override": "approve \u202egnp.exe",
    "rtl-isolate": "x \u2067y\u2069",
    "terminal-escape": "\x1b[2J\x1b[31mgranted",
    "bell": "ring\x07",
    "c1-control": "next\x85line",
    "lone-surrogate": "bad \ud800 text",
    "not-text": 12345,
}


@pytest.fixture
def resolver(apply_yaml, base_policy, user):
    apply_yaml(
        """
        kind: role
        name: resolver
        spec: {allow: {permissions: [requests_app.resolve_accessrequest]}}
        ---
        kind: user
        name: judge
        roles: [resolver]
        """
    )
    return user("judge")


def _new_request(requester):
    return access_request_create(requester=requester, roles=["db-admin"], reason="INC-1")


def _approved(requester, reviewer):
    request = _new_request(requester)
    review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED", reason="ok")
    return request


# Each service that takes a reason: (set up, act with `reason`, where the reason is stored).
SERVICES = {
    "create": (
        lambda p: None,
        lambda p, setup, reason: access_request_create(
            requester=p["requester"], roles=["db-admin"], reason=reason
        ),
        "reason",
    ),
    "review": (
        lambda p: _new_request(p["requester"]),
        lambda p, request, reason: review_submit(
            request_id=request.id, reviewer=p["reviewer"], state="DENIED", reason=reason
        ),
        "review",
    ),
    "resolve": (
        lambda p: _new_request(p["requester"]),
        lambda p, request, reason: access_request_resolve(
            request_id=request.id, actor=p["resolver"], state="DENIED", reason=reason
        ),
        "resolve_reason",
    ),
    "withdraw": (
        lambda p: _new_request(p["requester"]),
        lambda p, request, reason: access_request_withdraw(
            request_id=request.id, actor=p["requester"], reason=reason
        ),
        "resolve_reason",
    ),
    "revoke": (
        lambda p: _approved(p["requester"], p["reviewer"]),
        lambda p, request, reason: access_request_revoke(
            request_id=request.id, actor=p["requester"], reason=reason
        ),
        "revoke_reason",
    ),
}


@pytest.fixture
def people(requester, reviewer, resolver):
    return {"requester": requester, "reviewer": reviewer, "resolver": resolver}


def _stored(request: AccessRequest, where: str) -> str:
    request.refresh_from_db()
    if where == "review":
        return Review.objects.get(request=request).reason
    return getattr(request, where)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("text", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_unicode_reasons_are_stored_exactly_and_audited(people, service, text):
    setup, act, where = SERVICES[service]
    prepared = setup(people)
    request = act(people, prepared, text)

    assert _stored(request, where) == text
    newest = AuditEvent.objects.order_by("-seq").first()
    assert newest.data["reason"] == text
    assert audit_verify().ok


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("text", REFUSED.values(), ids=REFUSED.keys())
def test_hostile_reasons_are_refused_cleanly_and_change_nothing(people, service, text):
    setup, act, _ = SERVICES[service]
    prepared = setup(people)
    before = (
        AuditEvent.objects.count(),
        OutboxMessage.objects.count(),
        list(AccessRequest.objects.values_list("id", "state").order_by("id")),
    )

    with pytest.raises(ValidationFailed) as refused:
        act(people, prepared, text)

    assert refused.value.field == "reason" and refused.value.status == 400
    assert refused.value.message.startswith("reason ")
    after = (
        AuditEvent.objects.count(),
        OutboxMessage.objects.count(),
        list(AccessRequest.objects.values_list("id", "state").order_by("id")),
    )
    assert after == before


def test_a_reason_is_trimmed_but_otherwise_kept(requester):
    request = access_request_create(requester=requester, roles=["db-admin"], reason="  😀 x \n")
    assert request.reason == "😀 x"


def test_refusal_message_says_what_and_where(requester):
    with pytest.raises(ValidationFailed, match=r"text-direction control character \(U\+202E\)"):
        access_request_create(requester=requester, roles=["db-admin"], reason="ab\u202ecd")


@pytest.mark.parametrize(
    "field, value",
    [
        ("roles", ["db-admin\x00"]),
        ("roles", ["\ud800"]),
        ("roles", ["x" * 321]),
        ("resources", ["node/db-prod-1\x00"]),
        ("resources", ["node/\u202e1-dorp-bd"]),
        ("suggested_reviewers", ["bob\x00"]),
        ("suggested_reviewers", ["\ud800"]),
        ("suggested_reviewers", ["b" * 321]),
    ],
    ids=lambda v: ascii(v)[:30],
)
def test_hostile_names_are_refused_as_validation_errors(requester, reviewer, field, value):
    kwargs = {"roles": ["db-admin"], field: value}
    with pytest.raises(ValidationFailed) as refused:
        access_request_create(requester=requester, reason="x", **kwargs)
    assert refused.value.field == field
    assert not AccessRequest.objects.exists()


@pytest.mark.parametrize("name", ["db-admin😀", "дб-admin", "ʇǝʞɔoɹ", "db admin"])
def test_unknown_unicode_role_names_are_simply_not_allowed(requester, name):
    with pytest.raises(NotAllowed):
        access_request_create(requester=requester, roles=[name], reason="x")


def test_unicode_user_names_are_audited_and_chain_verifies(apply_yaml, base_policy, user):
    apply_yaml(
        """
        kind: user
        name: zoë.ñúñez
        roles: [engineer]
        ---
        kind: user
        name: 李小龍
        roles: [reviewer]
        """
    )
    request = access_request_create(requester=user("zoë.ñúñez"), roles=["db-admin"], reason="x")
    review_submit(request_id=request.id, reviewer=user("李小龍"), state="APPROVED", reason="好")
    actors = set(AuditEvent.objects.values_list("actor_name", flat=True))
    assert {"zoë.ñúñez", "李小龍"} <= actors
    assert audit_verify().ok
