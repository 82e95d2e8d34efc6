"""Evidence bundles an auditor verifies offline, and the retention purge that keeps them
verifiable (issue 21). The verifier is `accessctl evidence verify`, run through its main:
no server, no database, only the bundle and the anchor's public key."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from joserfc.jwk import OKPKey

from accessctl import chain
from accessctl.main import main as accessctl_main
from accessportal.kernel import audit as kernel_audit
from accessportal.kernel.audit import audit_verify
from accessportal.kernel.models import AuditEvent
from requests_app.models import AccessRequest, OutboxMessage, Review
from requests_app.services.access_requests import access_request_create
from requests_app.services.evidence import evidence_bundle_export
from requests_app.services.grants import access_request_revoke
from requests_app.services.notifications import outbox_dispatch
from requests_app.services.retention import retention_purge
from requests_app.services.reviews import review_submit
from requests_app.tasks import dispatch_audit_anchor, retention_purge_due

HS_KEY = "test-anchor-key-0123456789abcdef0123456789"
SECRET = "the-outsiders-secret-reason"


@pytest.fixture
def ed25519_anchors(settings, tmp_path):
    key = OKPKey.generate_key("Ed25519")
    private, public = tmp_path / "anchor.pem", tmp_path / "anchor-public.pem"
    private.write_bytes(key.as_pem(private=True))
    public.write_bytes(key.as_pem(private=False))
    settings.AUDIT_ANCHOR_PRIVATE_KEY_FILE = str(private)
    settings.AUDIT_ANCHOR_PUBLIC_KEY_FILE = str(public)
    settings.AUDIT_ANCHOR_KEY = ""
    settings.AUDIT_ANCHOR_FILE = str(tmp_path / "anchors.jsonl")
    settings.AUDIT_ANCHOR_WEBHOOK_URL = ""
    return public


@pytest.fixture
def dave(base_policy, apply_yaml, user):
    """Another engineer."""
    apply_yaml("kind: user\nname: dave\nroles: [engineer]\n")
    return user("dave")


@pytest.fixture
def story(requester, reviewer, dave):
    """alice's request approved by bob, then revoked; between its events, dave's own
    request with a reason nobody auditing alice may read."""
    mine = access_request_create(requester=requester, roles=["db-admin"], reason="INC-7: fix")
    theirs = access_request_create(requester=dave, roles=["db-admin"], reason=SECRET)
    review_submit(request_id=mine.id, reviewer=reviewer, state="APPROVED", reason="go ahead")
    review_submit(request_id=theirs.id, reviewer=reviewer, state="DENIED", reason=SECRET)
    access_request_revoke(request_id=mine.id, actor=requester, reason="done early")
    for message_id in OutboxMessage.objects.values_list("pk", flat=True):
        outbox_dispatch(message_id=message_id)  # the worker's job: delivered (locmem email)
    return AccessRequest.objects.get(pk=mine.id)


def _export(request_id, user):
    """What an auditor gets once the worker has anchored the chain (the web never signs)."""
    dispatch_audit_anchor()
    return evidence_bundle_export(request_id=request_id, user=user)


def _verify(tmp_path, bundle, *args) -> tuple[int, str]:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    out, err = io.StringIO(), io.StringIO()
    code = accessctl_main(["evidence", "verify", str(path), *args], stdout=out, stderr=err)
    return code, out.getvalue() + err.getvalue()


def test_a_bundle_verifies_offline_and_holds_no_one_elses_content(
    story, auditor, ed25519_anchors, tmp_path
):
    bundle = _export(story.id, auditor)

    code, said = _verify(tmp_path, bundle, "--public-key", str(ed25519_anchors))
    assert code == 0, said
    events = len(bundle["events"])
    assert f"verified: {events} events, anchored at seq {bundle['anchor']['seq']}" in said
    assert bundle["anchor"]["key_id"] in said
    assert SECRET not in json.dumps(bundle)  # dave's events are linked, not shown
    assert bundle["chain"]["links"], "dave's events sit between alice's"
    # Nor whom they were about: a link commits to its target, never names it.
    assert not any("target_id" in link or "dave" in json.dumps(link)
                   for link in bundle["chain"]["links"])  # fmt: skip
    assert [g["first_used"] for g in bundle["grants"]] == [None]
    assert bundle["request"]["state"] == "REVOKED"
    exported = AuditEvent.objects.filter(action="evidence.exported").get()
    assert (exported.actor_id, exported.target_id) == (auditor.id, str(story.id))
    assert exported.data["bundle_sha256"] == chain.sha256(chain.canonical(bundle))


def _tampered(bundle, change):
    copy = json.loads(json.dumps(bundle))
    change(copy)
    return copy


def _withhold_first_review(bundle):
    """Hide alice's review event behind a commitment, as a dishonest exporter might."""
    event = next(e for e in bundle["events"] if e["action"] == "review.submitted")
    bundle["events"].remove(event)
    bundle["chain"]["links"].append(
        {"seq": event["seq"], "v": 2, "fields": chain.fields_commitment(event),
         "target": chain.target_commitment(event["target_type"], event["target_id"])}
    )  # fmt: skip
    bundle["reviews"] = []


def _forge_anchor(bundle):
    other = OKPKey.generate_key("Ed25519")
    from joserfc import jws

    payload = {"seq": bundle["anchor"]["seq"], "hash": "f" * 64, "time": bundle["anchor"]["time"]}
    bundle["anchor"]["hash"] = "f" * 64
    bundle["anchor"]["jws"] = jws.serialize_compact(
        {"alg": "Ed25519"}, json.dumps(payload, sort_keys=True), other, algorithms=["Ed25519"]
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda b: b["request"].update(reason="INC-8: something else"), "reason differs"),
        (lambda b: b["request"].update(state="APPROVED"), "state APPROVED does not match"),
        (lambda b: b["reviews"][0].update(state="DENIED"), "reviews differ"),
        (lambda b: b["events"].pop(1), "missing from the chain proof"),
        (lambda b: b["events"][0]["data"].update(reason="INC-8"), "was altered"),
        (_withhold_first_review, "is withheld"),
        (_forge_anchor, "signature is not valid"),
        (lambda b: b["anchor"].update(seq=b["anchor"]["seq"] + 1), "do not say what"),
    ],
    ids=["reason", "state", "review", "removed-event", "edited-event", "withheld", "forged-anchor",
         "anchor-seq"],
)  # fmt: skip
def test_a_tampered_bundle_is_refused_naming_the_problem(
    story, auditor, ed25519_anchors, tmp_path, change, problem
):
    bundle = _export(story.id, auditor)
    code, said = _verify(tmp_path, _tampered(bundle, change), "--public-key", str(ed25519_anchors))
    assert code == 1
    assert "NOT verified" in said and problem in said


def test_an_hs256_bundle_needs_the_shared_key_and_says_it_is_weaker(
    story, auditor, settings, tmp_path
):
    settings.AUDIT_ANCHOR_KEY = HS_KEY
    settings.AUDIT_ANCHOR_FILE = str(tmp_path / "anchors.jsonl")
    settings.AUDIT_ANCHOR_WEBHOOK_URL = ""
    bundle = _export(story.id, auditor)
    code, said = _verify(tmp_path, bundle)
    assert code == 1 and "--key-file" in said
    key = tmp_path / "anchor.key"
    key.write_text(HS_KEY + "\n")
    code, said = _verify(tmp_path, bundle, "--key-file", str(key))
    assert code == 0 and "HS256 anchor: anyone holding the shared key" in said


def test_an_existing_anchor_covering_the_request_is_reused(story, auditor, ed25519_anchors, capsys):
    call_command("audit_anchor")
    anchored = AuditEvent.objects.order_by("-seq").first().seq
    bundle = evidence_bundle_export(request_id=story.id, user=auditor)
    assert bundle["anchor"]["seq"] == anchored
    # Exporting again needs no new anchor: the first export's event adds nothing to prove.
    again = evidence_bundle_export(request_id=story.id, user=auditor)
    assert again["anchor"]["seq"] == anchored and again["events"] == bundle["events"]
    assert len((ed25519_anchors.parent / "anchors.jsonl").read_text().splitlines()) == 1


def test_the_api_answers_auditors_and_hides_the_request_from_others(
    story, auditor, outsider, requester, ed25519_anchors, client
):
    url = f"/api/v1/requests/{story.id}/evidence/"
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    client.force_login(requester)  # sees it, is no auditor
    answer = client.get(url)
    assert answer.status_code == 403 and answer.json()["code"] == "not_allowed"
    client.force_login(auditor)
    dispatch_audit_anchor()  # the worker's periodic anchor
    answer = client.get(url)
    assert answer.status_code == 200 and answer.json()["request"]["id"] == str(story.id)
    page = client.get(url + "?format=html")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert "Evidence bundle" in page.content.decode() and "done early" in page.content.decode()
    assert client.get("/api/v1/requests/not-a-uuid/evidence/").status_code == 404
    assert AuditEvent.objects.filter(action="evidence.exported").count() == 2


def test_without_anchors_the_api_says_so_with_a_503(story, auditor, settings, client):
    settings.AUDIT_ANCHOR_KEY = ""
    settings.AUDIT_ANCHOR_PRIVATE_KEY_FILE = ""
    settings.AUDIT_ANCHOR_FILE = ""
    settings.AUDIT_ANCHOR_WEBHOOK_URL = ""
    client.force_login(auditor)
    answer = client.get(f"/api/v1/requests/{story.id}/evidence/")
    assert answer.status_code == 503
    assert answer.json()["code"] == "anchors_not_configured"
    assert not AuditEvent.objects.filter(action="evidence.exported").exists()


def test_the_command_writes_a_bundle_that_verifies(story, ed25519_anchors, tmp_path, capsys):
    out = tmp_path / "out.json"
    call_command("evidence_bundle", str(story.id), "-o", str(out))
    assert "anchored at #" in capsys.readouterr().out
    code, said = _verify(tmp_path, json.loads(out.read_text()), "--public-key",
                         str(ed25519_anchors))  # fmt: skip
    assert code == 0, said
    assert AuditEvent.objects.get(action="evidence.exported").actor_name.startswith("manage.py")


def test_the_desk_request_page_links_auditors_to_the_bundle(story, auditor, reviewer, client):
    for person in (auditor, reviewer):
        person.is_staff = True
        person.save(update_fields=["is_staff"])
    link = f"/api/v1/requests/{story.id}/evidence/"
    client.force_login(auditor)
    page = client.get(f"/admin/requests_app/accessrequest/{story.id}/change/")
    assert page.status_code == 200 and link in page.content.decode()
    client.force_login(reviewer)  # sees the request, holds no audit permission
    page = client.get(f"/admin/requests_app/accessrequest/{story.id}/change/")
    assert page.status_code == 200 and link not in page.content.decode()


# -- retention ---------------------------------------------------------------------------


def test_purge_replaces_reasons_and_bodies_and_the_chain_still_verifies(
    story, auditor, ed25519_anchors, tmp_path, capsys
):
    call_command("audit_anchor")  # an anchor taken before the purge
    anchors = str(ed25519_anchors.parent / "anchors.jsonl")
    with time_machine.travel(timezone.now() + timedelta(days=40)):
        dry = retention_purge(days=30, dry_run=True)
        # alice's reason, resolve (the approving review's) and revoke reasons; dave's two
        assert dry.request_reasons == 5
        assert AccessRequest.objects.get(pk=story.id).reason == "INC-7: fix"
        counts = retention_purge(days=30)
    assert (counts.request_reasons, counts.review_reasons) == (5, 2)
    assert counts.audit_values > 0 and counts.notification_bodies > 0
    purged = AccessRequest.objects.get(pk=story.id)
    assert purged.reason == chain.text_purged("INC-7: fix")
    assert chain.text_is_purged(Review.objects.filter(request=story).get().reason)
    assert all(chain.is_purged(m.payload) for m in OutboxMessage.objects.filter(request=story)
               if m.state != "PENDING")  # fmt: skip
    created = AuditEvent.objects.get(target_id=str(story.id), action="request.created")
    assert created.data["reason"] == {"$purged": chain.commitment("INC-7: fix")}
    assert "INC-7: fix" not in json.dumps(list(AuditEvent.objects.values_list("data", flat=True)))
    purge_event = AuditEvent.objects.get(action="retention.purged")
    assert purge_event.data["days"] == 30 and purge_event.data["request_reasons"] == 5

    assert audit_verify().ok
    call_command("verify_audit", "--anchors", anchors)  # exits 1 on a problem

    bundle = _export(story.id, auditor)
    code, said = _verify(tmp_path, bundle, "--public-key", str(ed25519_anchors))
    assert code == 0, said
    assert "purged: request reason" in said and "purged: request revoke_reason" in said
    assert "go ahead" not in json.dumps(bundle)


def test_purge_is_off_by_default_and_leaves_recent_requests(story, settings):
    assert settings.RETENTION_PURGE_AFTER_DAYS == 0
    assert retention_purge().purged == 0
    assert retention_purge(days=30).purged == 0  # finished today
    assert AccessRequest.objects.get(pk=story.id).reason == "INC-7: fix"


def test_a_purge_marker_with_a_wrong_hash_breaks_the_chain(story, audit_tampering):
    event = AuditEvent.objects.get(target_id=str(story.id), action="request.created")
    AuditEvent.objects.filter(pk=event.pk).update(
        data={**event.data, "reason": {"$purged": "0" * 64}}
    )
    report = audit_verify()
    assert not report.ok and f"#{event.seq} was altered" in report.problem


# -- v1 / v2 ----------------------------------------------------------------------------


@pytest.fixture
def old_server(monkeypatch):
    """Events written from here on are v1, as a server before the cut-over wrote them;
    `cut_over()` upgrades it."""
    monkeypatch.setattr(kernel_audit, "FORMAT", chain.V1)
    return lambda: monkeypatch.setattr(kernel_audit, "FORMAT", chain.V2)


def test_a_mixed_v1_v2_chain_verifies_and_v1_reasons_are_kept_by_the_purge(
    old_server, requester, reviewer, dave, auditor, ed25519_anchors, tmp_path
):
    """Events before the cut-over stay v1 (hashing their raw data); a bundle's proof
    carries them whole; a purge leaves their reasons and says so."""
    old = access_request_create(requester=requester, roles=["db-admin"], reason="v1 reason")
    access_request_create(requester=dave, roles=["db-admin"], reason="other v1")
    old_server()  # the cut-over: nothing written before is rewritten
    review_submit(request_id=old.id, reviewer=reviewer, state="DENIED", reason="no")
    versions = list(AuditEvent.objects.order_by("seq").values_list("version", flat=True))
    assert versions[0] == 1 and versions[-1] == 2 and versions == sorted(versions)
    assert audit_verify().ok

    bundle = _export(old.id, auditor)
    links = bundle["chain"]["links"]
    assert links and {link["v"] for link in links} == {1}  # dave's v1 events, whole
    code, said = _verify(tmp_path, bundle, "--public-key", str(ed25519_anchors))
    assert code == 0, said

    with time_machine.travel(timezone.now() + timedelta(days=40)):
        counts = retention_purge(days=30)
    assert counts.audit_v1_values_kept >= 1
    created = AuditEvent.objects.get(target_id=str(old.id), action="request.created")
    assert created.data["reason"] == "v1 reason"  # v1: untouched
    assert audit_verify().ok


# -- the database's one opening ---------------------------------------------------------

TABLE = "requests_app_auditevent"


def _sql(sql, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _refused(sql, params=None):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _sql(sql, params)


@pytest.mark.postgres
def test_the_trigger_lets_only_the_purge_through(story):
    event = AuditEvent.objects.get(target_id=str(story.id), action="request.created")
    marker = json.dumps({**event.data, "reason": chain.purged(event.data["reason"])})
    where = f"WHERE seq = {event.seq}"
    # Without the purge setting: refused, as every UPDATE.
    _refused(f"UPDATE {TABLE} SET data = %s::jsonb {where}", [marker])
    with transaction.atomic():
        _open_purge()
        # With it, but anything else changes: refused.
        _refused(f"UPDATE {TABLE} SET actor_name = 'x', data = %s::jsonb {where}", [marker])
        _refused(f'UPDATE {TABLE} SET data = data || \'{{"reason": "edited"}}\'::jsonb {where}')
        _refused(f"UPDATE {TABLE} SET data = data - 'reason' {where}")
        _refused(f"DELETE FROM {TABLE} {where}")
        # A value becoming its marker: let through.
        _sql(f"UPDATE {TABLE} SET data = %s::jsonb {where}", [marker])
    assert AuditEvent.objects.get(pk=event.pk).data["reason"] == chain.purged("INC-7: fix")
    # Through the opening but not by the retention purge (no `retention.purged` after it):
    # the chain's hashes hold, and verify_audit says it was redacted outside the purge.
    report = audit_verify()
    assert not report.ok and "no later retention purge covers" in report.problem


def test_the_command_counts_with_dry_run_and_the_beat_task_purges_when_set(story, settings, capsys):
    later = timezone.now() + timedelta(days=40)
    with time_machine.travel(later):
        call_command("retention_purge", "--days", "30", "--dry-run")
        said = capsys.readouterr().out
        assert said.startswith("would purge: 5 request reason(s), 2 review reason(s)")
        assert AccessRequest.objects.get(pk=story.id).reason == "INC-7: fix"
        call_command("retention_purge")  # RETENTION_PURGE_AFTER_DAYS unset: off
        assert "retention purge is off" in capsys.readouterr().out
        settings.RETENTION_PURGE_AFTER_DAYS = 30
        assert retention_purge_due() > 0
    assert chain.text_is_purged(AccessRequest.objects.get(pk=story.id).reason)
    assert audit_verify().ok


def test_an_unknown_format_is_a_400_and_exports_nothing(story, auditor, ed25519_anchors, client):
    client.force_login(auditor)
    answer = client.get(f"/api/v1/requests/{story.id}/evidence/?format=pdf")
    assert answer.status_code == 400 and answer.json()["field"] == "format"
    assert not AuditEvent.objects.filter(action="evidence.exported").exists()


# -- review fixes (findings-fix-evidence.md) --------------------------------------------


def _resign_with_own_key(bundle):
    """A made-up history: the reason changed, the anchor re-signed with a key of the
    forger's, whose public key is put in the bundle (review H1)."""
    from joserfc import jws

    bundle["request"]["reason"] = "FORGED"
    bundle["events"][0]["data"]["reason"] = "FORGED"
    prev = bundle["events"][0]["prev_hash"]
    full = {e["seq"]: e for e in bundle["events"]}
    for link in bundle["chain"]["links"]:
        if "event" in link:
            full[link["seq"]] = {"v": link["v"], **link["event"], "seq": link["seq"]}
    opaque = {x["seq"]: x for x in bundle["chain"]["links"] if "event" not in x}
    for seq in range(bundle["events"][0]["seq"], bundle["anchor"]["seq"] + 1):
        if seq in full:
            full[seq]["prev_hash"] = prev
            full[seq]["hash"] = prev = chain.event_hash(full[seq])
        else:
            x = opaque[seq]
            prev = chain.link(prev, chain.body_commitment(
                seq=seq, target=x["target"], fields=x["fields"]
            ))  # fmt: skip
    key = OKPKey.generate_key("Ed25519")
    payload = {"seq": bundle["anchor"]["seq"], "hash": prev, "time": bundle["anchor"]["time"]}
    bundle["anchor"].update(
        hash=prev,
        jws=jws.serialize_compact(
            {"alg": "Ed25519"}, json.dumps(payload, sort_keys=True), key, algorithms=["Ed25519"]
        ),
        public_key=key.as_pem(private=False).decode(),
        key_id=key.thumbprint(),
    )
    return key.thumbprint()


def test_a_bundle_is_never_verified_with_the_key_it_carries(
    story, auditor, ed25519_anchors, tmp_path
):
    bundle = _export(story.id, auditor)
    code, said = _verify(tmp_path, bundle)  # genuine, but no trusted key given
    assert code == 1 and not said.startswith("verified")
    assert bundle["anchor"]["key_id"] in said and "--public-key" in said
    forged = json.loads(json.dumps(bundle))
    forger = _resign_with_own_key(forged)
    code, said = _verify(tmp_path, forged)
    assert code == 1 and "NOT verified" in said and forger in said
    code, said = _verify(tmp_path, forged, "--public-key", str(ed25519_anchors))
    assert code == 1 and "signature is not valid" in said


def _resolution(bundle):
    return next(e for e in bundle["events"] if e["action"] == "request.approved")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda b: b["request"].update(user="mallory"), "requester differs"),
        (lambda b: b["request"].update(user_id=b["request"]["user_id"] + 100), "requester"),
        (lambda b: b["request"].update(resolved_by_id=b["request"]["user_id"]), "resolver"),
        (lambda b: b["request"].update(resolve_reason="rubber stamp"), "resolve reason"),
        (lambda b: b["request"].update(revoked_by_id=None), "revoker"),
        (lambda b: b["request"].update(access_expires="2099-01-01T00:00:00Z"), "access end"),
        (lambda b: b["request"].update(access_starts="2000-01-01T00:00:00Z"), "access start"),
        (lambda b: b["grants"][0].update(expires="2099-01-01T00:00:00Z"), "end differs"),
        (lambda b: b["grants"][0].update(starts="2000-01-01T00:00:00Z"), "start differs"),
        (lambda b: b["reviews"][0].update(thresholds=[7]), "reviews differ"),
    ],
    ids=["user", "user-id", "resolver", "resolve-reason", "revoker", "access-end",
         "access-start", "grant-end", "grant-start", "thresholds"],
)  # fmt: skip
def test_every_row_field_the_bundle_reports_is_checked_against_the_events(
    story, auditor, ed25519_anchors, tmp_path, change, problem
):
    bundle = _export(story.id, auditor)
    code, said = _verify(tmp_path, _tampered(bundle, change), "--public-key", str(ed25519_anchors))
    assert code == 1, said
    assert "NOT verified" in said and problem in said


@pytest.fixture
def pair(requester, reviewer):
    """alice's request for two roles, approved by bob: two grants, both live from approval
    (no grant event of their own)."""
    mine = access_request_create(requester=requester, roles=["db-admin", "dev-admin"],
                                 reason="INC-9")  # fmt: skip
    review_submit(request_id=mine.id, reviewer=reviewer, state="APPROVED", reason="ok")
    return AccessRequest.objects.get(pk=mine.id)


def test_the_approval_event_lists_its_grants_and_a_dropped_grant_is_refused(
    pair, auditor, ed25519_anchors, tmp_path
):
    bundle = _export(pair.id, auditor)
    listed = _resolution(bundle)["data"]["grants"]
    assert sorted((g["id"], g["role"]) for g in listed) == sorted(
        (g["id"], g["role"]) for g in bundle["grants"]
    )
    assert listed[0]["expires"] == bundle["request"]["access_expires"]
    key = ("--public-key", str(ed25519_anchors))
    assert _verify(tmp_path, bundle, *key)[0] == 0

    def drop(b):
        b["grants"] = [g for g in b["grants"] if g["role"] != "dev-admin"]
        b["request"]["roles"] = b["request"]["roles"]  # the request still asks for both

    code, said = _verify(tmp_path, _tampered(bundle, drop), *key)
    assert code == 1 and "not one per requested item" in said

    def swap(b):  # one grant's id replaced by another (say, someone else's) grant's
        b["grants"][0]["id"] = 999999

    code, said = _verify(tmp_path, _tampered(bundle, swap), *key)
    assert code == 1 and "approval event lists" in said


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda b: b.update(request=[1, 2]), "request is not an object"),
        (lambda b: b.update(grants=["11"]), "grants is not a list of objects"),
        (lambda b: b["events"][0].update(data=["x"]), "data is not an object"),
        (lambda b: b["chain"].update(links="nope"), "chain links"),
        (lambda b: b["reviews"][0].update(state=["x"]), "the bundle is malformed"),
    ],
    ids=["request-list", "grant-string", "data-list", "links-string", "review-state-list"],
)  # fmt: skip
def test_a_malformed_bundle_exits_1_with_a_message(
    story, auditor, ed25519_anchors, tmp_path, change, problem
):
    bundle = _export(story.id, auditor)
    code, said = _verify(tmp_path, _tampered(bundle, change), "--public-key", str(ed25519_anchors))
    assert code == 1 and "Traceback" not in said
    assert "NOT verified" in said and problem in said


def test_a_typed_reason_cannot_pass_for_a_purged_one(requester):
    from accessportal.kernel.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="marks purged text"):
        access_request_create(
            requester=requester, roles=["db-admin"], reason=chain.PURGED_TEXT + "a" * 64
        )


def test_the_web_never_signs_it_asks_the_worker_and_says_when_to_retry(
    story, auditor, ed25519_anchors, client, django_capture_on_commit_callbacks
):
    client.force_login(auditor)
    url = f"/api/v1/requests/{story.id}/evidence/"
    with django_capture_on_commit_callbacks() as queued:
        answer = client.get(url)
    assert answer.status_code == 503 and answer.json()["code"] == "not_yet_anchored"
    assert int(answer["Retry-After"]) > 0
    assert len(queued) == 1  # dispatch_audit_anchor, for the worker
    assert not (ed25519_anchors.parent / "anchors.jsonl").exists()  # nothing signed here
    assert not AuditEvent.objects.filter(action="evidence.exported").exists()
    dispatch_audit_anchor()  # the worker runs it
    assert client.get(url).status_code == 200


def test_a_bundle_over_the_link_cap_is_refused_with_a_clear_error(
    story, auditor, ed25519_anchors, client, settings, tmp_path
):
    settings.EVIDENCE_MAX_LINKS = 1
    dispatch_audit_anchor()
    client.force_login(auditor)
    answer = client.get(f"/api/v1/requests/{story.id}/evidence/")
    assert answer.status_code == 422 and answer.json()["code"] == "evidence_too_large"
    assert "EVIDENCE_MAX_LINKS" in answer.json()["detail"]
    out = tmp_path / "out.json"
    call_command("evidence_bundle", str(story.id), "-o", str(out), "--max-links", "0")
    assert json.loads(out.read_text())["chain"]["links"]


def test_provisioning_rows_are_per_grant_and_carry_no_error_text(story, auditor, ed25519_anchors):
    bundle = _export(story.id, auditor)
    for row in bundle["provisioning"]:
        assert set(row) == {"grant", "target", "provisioner", "state", "updated"}
        assert row["grant"] in {g["id"] for g in bundle["grants"]}


def _purge_outside_retention(event):
    """Redact a reason with a correct-hash marker, as the retention purge would, but with
    no retention purge (the opening used directly, or the trigger off)."""
    marker = {**event.data, "reason": chain.purged(event.data["reason"])}
    AuditEvent.objects.filter(pk=event.pk).update(data=marker)


def test_a_redaction_outside_the_retention_purge_is_reported(
    story, auditor, ed25519_anchors, tmp_path, audit_tampering
):
    event = AuditEvent.objects.get(target_id=str(story.id), action="request.created")
    _purge_outside_retention(event)
    report = audit_verify()
    assert not report.ok and "no later retention purge covers" in report.problem
    assert f"#{event.seq}" in report.problem
    bundle = _export(story.id, auditor)
    code, said = _verify(tmp_path, bundle, "--public-key", str(ed25519_anchors))
    assert code == 1 and "no later retention purge covers" in said


def test_a_bundle_hiding_the_purge_event_is_refused(story, auditor, ed25519_anchors, tmp_path):
    with time_machine.travel(timezone.now() + timedelta(days=40)):
        retention_purge(days=30)
    bundle = _export(story.id, auditor)
    key = ("--public-key", str(ed25519_anchors))
    assert _verify(tmp_path, bundle, *key)[0] == 0

    def hide(b):
        for i, link in enumerate(b["chain"]["links"]):
            if "event" in link and link["event"]["action"] == "retention.purged":
                e = link["event"]
                b["chain"]["links"][i] = {"seq": link["seq"], "v": 2,
                    "target": chain.target_commitment(e["target_type"], e["target_id"]),
                    "fields": chain.fields_commitment(e)}  # fmt: skip

    code, said = _verify(tmp_path, _tampered(bundle, hide), *key)
    assert code == 1 and "no later retention purge covers" in said


def _open_purge():
    _sql("SELECT set_config('accessportal.audit_purge', txid_current()::text, true)")


@pytest.mark.postgres
def test_the_trigger_opening_forges_nothing(story, requester):
    """Review H4: the opening takes only what the retention purge writes: a reason string
    of a finished request's v2 event becoming the marker of ITS hash, computed by the
    trigger; and only in the transaction that opened it."""
    # The trigger's hash of a JSON string is the chain's (control characters, quotes, é).
    tricky = 'a é "q"\n\t\\/\u0001 \u2028'
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT encode(sha256(convert_to(to_jsonb(%s::text)::text, 'UTF8')), 'hex')", [tricky]
        )
        assert cursor.fetchone()[0] == chain.commitment(tricky)
    event = AuditEvent.objects.get(target_id=str(story.id), action="request.created")
    where = f"WHERE seq = {event.seq}"

    def with_(key, value):
        return json.dumps({**event.data, key: value})

    good = with_("reason", chain.purged(event.data["reason"]))
    with transaction.atomic():
        _open_purge()
        _refused(
            f"UPDATE {TABLE} SET data = %s::jsonb {where}", [with_("reason", {"$purged": "0" * 64})]
        )  # fmt: skip  wrong hash
        _refused(f"UPDATE {TABLE} SET data = %s::jsonb {where}",
                 [with_("roles", {"$purged": chain.commitment(event.data["roles"])})])  # fmt: skip
        _refused(f"UPDATE {TABLE} SET data = %s::jsonb {where}", [with_("reason", "other")])
    # A session-level setting (or ALTER ROLE ... SET) opens nothing.
    _sql("SET accessportal.audit_purge = 'on'")
    try:
        _refused(f"UPDATE {TABLE} SET data = %s::jsonb {where}", [good])
    finally:
        _sql("RESET accessportal.audit_purge")
    # A pending request's reason: refused even with a correct marker.
    pending = access_request_create(requester=requester, roles=["dev-admin"], reason="live")
    created = AuditEvent.objects.get(target_id=str(pending.id), action="request.created")
    with transaction.atomic():
        _open_purge()
        _refused(
            f"UPDATE {TABLE} SET data = %s::jsonb WHERE seq = {created.seq}",
            [json.dumps({**created.data, "reason": chain.purged("live")})],
        )
        _sql(f"UPDATE {TABLE} SET data = %s::jsonb {where}", [good])  # the purge's own write
    assert AuditEvent.objects.get(pk=event.pk).data["reason"] == chain.purged("INC-7: fix")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_bundle_is_read_in_one_repeatable_read_snapshot(
    story, auditor, ed25519_anchors, tmp_path
):
    """Review M3: the rows, events and links are read in one snapshot, so a review
    committing mid-build cannot make a genuine bundle look forged."""
    from requests_app.services.evidence import _snapshot

    assert not connection.in_atomic_block
    with _snapshot(), connection.cursor() as cursor:
        cursor.execute("SHOW transaction_isolation")
        isolation = cursor.fetchone()[0]
        cursor.execute("SHOW transaction_read_only")
        assert (isolation, cursor.fetchone()[0]) == ("repeatable read", "on")
    bundle = _export(story.id, auditor)
    assert _verify(tmp_path, bundle, "--public-key", str(ed25519_anchors))[0] == 0
