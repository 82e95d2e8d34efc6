"""accessctl against a live test server: every command, end to end, through the real API.

The CLI runs in-process (`main(argv)`) and talks HTTP to pytest-django's `live_server`.
For `--wait`, the CLI's sleep between polls is where the story moves on: on each pause a
reviewer acts from another thread through the domain services (as they would from the
portal) and the next poll sees it. No test depends on timing.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accessctl import config
from accessportal.kernel.choices import RequestState
from requests_app.models import AccessRequest, Grant
from requests_app.services.access_requests import access_request_create
from requests_app.services.resolution import access_request_withdraw, access_requests_expire_due
from requests_app.services.reviews import review_submit
from tests.policies import contractor_dave

# Transactional: the live server thread must see committed rows. Serialized rollback puts
# back what migrations created (the audit chain's head row), which a flush removes.
pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("_server_idle_at_teardown"),
]

UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
ABS_REL = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC \((in [0-9dhms ]+|[0-9dhms ]+ ago|just now)\)"

TWO_PERSON_POLICY = contractor_dave("thresholds: [{name: two-person, approve: 2, deny: 1}]")


def _create(user, **kwargs) -> AccessRequest:
    kwargs.setdefault("roles", ["db-admin"])
    kwargs.setdefault("reason", "INC-1: replication")
    return access_request_create(requester=user, **kwargs)


def _in_other_thread(action) -> None:
    """Run `action` in a new thread with its own database connection and wait for it."""
    failure: list[BaseException] = []

    def target():
        try:
            action()
        except BaseException as exc:  # re-raised in the test's thread below
            failure.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def pauses(*actions):
    """A stand-in for time.sleep: the n-th pause runs actions[n] in another thread.

    Pauses after the last action do nothing; too many mean the CLI did not notice the
    outcome, which fails the test instead of hanging it.
    """
    pending = list(actions)
    extra = 0

    def sleep(_seconds: float) -> None:
        nonlocal extra
        if pending:
            _in_other_thread(pending.pop(0))
            return
        extra += 1
        assert extra < 5, "the CLI kept waiting after the request was decided"

    return sleep


def _latest(username: str) -> AccessRequest:
    return AccessRequest.objects.filter(user__username=username).latest("created")


def _review(reviewer: str, state: str, requester: str = "alice", reason: str = ""):
    def action():
        review_submit(
            request_id=_latest(requester).pk,
            reviewer=get_user_model().objects.get(username=reviewer),
            state=state,
            reason=reason,
        )

    return action


# -- login and whoami ---------------------------------------------------------------------


def test_login_with_password_then_commands_use_the_stored_token(
    run, live_server, base_policy, user, cli_env
):
    alice = user("alice")
    alice.set_password("correct horse battery")
    alice.save()
    result = run(
        "login", "--url", live_server.url, "--user", "alice", stdin="correct horse battery\n"
    )
    assert result.code == 0, result.err
    assert result.out.startswith(f"Logged in to {live_server.url} as alice.")
    stored = config.load_file(config.config_path(cli_env))
    assert stored["token"] == Token.objects.get(user=alice).key

    who = run("whoami")  # no environment: the config file is used
    assert who.code == 0, who.err
    assert "User:" in who.out and "alice" in who.out
    assert re.search(r"Standing roles:\s+engineer", who.out)
    assert re.search(r"May request:\s+.*db-admin", who.out)


def test_login_with_a_wrong_password_exits_5_and_stores_nothing(
    run, live_server, base_policy, user, cli_env
):
    alice = user("alice")
    alice.set_password("correct horse battery")
    alice.save()
    result = run("login", "--url", live_server.url, "--user", "alice", stdin="nope\n")
    assert result.code == 5
    assert result.err.startswith("accessctl: error: login refused: ")
    assert len(result.err.strip().splitlines()) == 1
    assert not config.config_path(cli_env).exists()


def test_login_with_a_pasted_token(run, live_server, alice, cli_env):
    result = run("login", "--url", live_server.url, stdin=alice["ACCESSPORTAL_TOKEN"] + "\n")
    assert result.code == 0, result.err
    assert config.load_file(config.config_path(cli_env))["user"] == "alice"


def test_whoami_json_is_the_apis(run, alice):
    result = run("whoami", "--json", env=alice)
    assert result.code == 0
    assert result.json["user"] == "alice"
    assert result.json["standing_roles"] == ["engineer"]


def test_a_bad_token_exits_5(run, live_server, base_policy):
    result = run(
        "request", "ls", env={"ACCESSPORTAL_URL": live_server.url, "ACCESSPORTAL_TOKEN": "nope"}
    )
    assert result.code == 5
    assert result.err.startswith("accessctl: error: the server refused the credentials: ")


def test_a_url_that_is_a_web_page_not_the_api_exits_4(run, live_server, alice):
    env = {**alice, "ACCESSPORTAL_URL": live_server.url + "/nothing-here"}
    result = run("request", "ls", env=env)
    assert result.code == 4
    assert "is not an Access Portal API" in result.err
    assert "an HTML page (HTTP 404)" in result.err


# -- resources ----------------------------------------------------------------------------


def test_resources_search_lists_what_may_be_requested(run, alice):
    result = run("resources", "search", env=alice)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["RESOURCE", "LABELS", "DESCRIPTION"]
    assert any(line.startswith("node/db-prod-1") and "env=prod, team=pay" in line for line in lines)
    assert "node/web-dev-1" not in result.out  # env=dev: not reachable through prod-access


def test_resources_search_filters(run, alice):
    assert (
        run("resources", "search", "--label", "team=pay", "--json", env=alice).json[0]["id"]
        == "node/db-prod-1"
    )
    assert run("resources", "search", "--kind", "db", "--json", env=alice).json == []
    none = run("resources", "search", "nothing-like-this", env=alice)
    assert (none.code, none.out) == (0, "No resources you may request match.\n")


# -- request create / show / ls --------------------------------------------------------------


def test_request_create_stores_the_request_and_prints_it(run, alice):
    result = run(
        "request",
        "create",
        "--roles",
        "db-admin",
        "--reason",
        "INC-4711: fix replication",
        "--max-duration",
        "2h",
        "--request-ttl",
        "8h",
        "--reviewers",
        "bob",
        env=alice,
    )
    assert result.code == 0, result.err
    req = _latest("alice")
    assert (req.roles, req.reason, req.max_duration) == (
        ["db-admin"],
        "INC-4711: fix replication",
        7200,
    )
    assert req.suggested_reviewers == ["bob"]
    assert result.out.startswith(f"Created request {req.pk}.")
    assert re.search(r"State:\s+PENDING", result.out)
    assert re.search(r"Pending until:\s+" + ABS_REL, result.out)
    assert re.search(r"\(in 7h 5\dm\)", result.out)
    assert re.search(r"Access:\s+2h, from approval", result.out)
    assert f"accessctl request show {req.pk} --wait" in result.out


def test_request_create_for_a_resource_with_a_start_time(run, alice):
    start = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    result = run(
        "request",
        "create",
        "--resource",
        "node/db-prod-1",
        "--reason",
        "INC-2",
        "--start",
        start.isoformat(),
        "--json",
        env=alice,
    )
    assert result.code == 0, result.err
    assert result.json["resources"] == ["node/db-prod-1"]
    assert _latest("alice").assume_start_time == start


def test_request_create_dry_run_stores_nothing(run, alice):
    result = run(
        "request",
        "create",
        "--roles",
        "db-admin",
        "--reason",
        "x",
        "--max-duration",
        "30d",
        "--dry-run",
        env=alice,
    )
    # 30d is above the 14-day ceiling: refused, even in a dry run.
    assert result.code == 1
    assert "max_duration" in result.err or "14" in result.err
    ok = run("request", "create", "--roles", "db-admin", "--reason", "x", "--dry-run", env=alice)
    assert ok.code == 0, ok.err
    assert ok.out.startswith("Dry run: the request is valid and nothing was stored.")
    assert AccessRequest.objects.count() == 0


def test_request_create_refused_by_policy_prints_the_servers_message(run, alice):
    result = run("request", "create", "--roles", "auditor", "--reason", "x", env=alice)
    assert result.code == 1
    assert result.err.startswith("accessctl: error: ")
    assert "auditor" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert AccessRequest.objects.count() == 0


def test_request_show_prints_a_pasteable_summary(run, alice, requester):
    req = _create(requester, suggested_reviewers=["bob"])
    result = run("request", "show", str(req.pk), env=alice)
    assert result.code == 0, result.err
    out = result.out
    assert re.search(rf"Request:\s+{req.pk}", out)
    assert re.search(r"User:\s+alice", out)
    assert re.search(r"Roles:\s+db-admin", out)
    assert re.search(r"Reason:\s+INC-1: replication", out)
    assert re.search(r"Created:\s+" + ABS_REL, out)
    assert re.search(r"Reviewers:\s+bob", out)
    assert re.search(r"Thresholds:\s+default: 0 of 1 approval, 0 of 1 denial", out)
    assert "No reviews yet." in out
    assert "\x1b[" not in out  # not a terminal: no colour


def test_request_show_json_is_the_apis(run, alice, requester):
    req = _create(requester)
    result = run("request", "show", str(req.pk), "--json", env=alice)
    assert result.json["id"] == str(req.pk)
    assert result.json["state"] == "PENDING"


def test_request_show_of_an_unseen_request_is_not_found(run, as_user, requester):
    req = _create(requester)
    result = run("request", "show", str(req.pk), env=as_user("mallory"))
    assert result.code == 1
    assert result.err == f"accessctl: error: request {req.pk} not found (or you may not see it)\n"


def test_request_ls_scopes_and_states(run, alice, bob, requester, user):
    mine = _create(requester)
    other = _create(requester, roles=["dev-admin"])
    review_submit(request_id=other.pk, reviewer=user("bob"), state="DENIED", reason="no")

    listing = run("request", "ls", "--mine", env=alice)
    assert listing.code == 0, listing.err
    header, *rows = listing.out.splitlines()
    assert header.split() == ["ID", "USER", "REQUESTED", "STATE", "CREATED", "ENDS", "REASON"]
    # Listings show request ids by their first 8 characters (any unique prefix is accepted).
    assert [row.split()[0] for row in rows] == [str(other.pk)[:8], str(mine.pk)[:8]]
    assert header.index("STATE") == rows[0].index("DENIED") == rows[1].index("PENDING")
    assert re.search(r"PENDING\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC\s+in 23h 5\dm\s+INC-1", rows[1])

    reviewable = run("request", "ls", "--reviewable", "--json", env=bob)
    assert [r["id"] for r in reviewable.json] == [str(mine.pk)]
    denied = run("request", "ls", "--state", "denied", "--json", env=alice)
    assert [r["id"] for r in denied.json] == [str(other.pk)]
    empty = run("request", "ls", "--reviewable", env=alice)
    assert (empty.code, empty.out) == (0, "No requests.\n")


# -- review / withdraw ---------------------------------------------------------------------


def test_review_approve_grants_the_access(run, bob, requester):
    req = _create(requester)
    result = run("request", "review", str(req.pk), "--approve", "--reason", "go ahead", env=bob)
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == (f"You approved request {req.pk} (db-admin for alice).")
    assert "It is now APPROVED." in result.out
    assert re.search("Access from " + ABS_REL + " until " + ABS_REL, result.out)
    req.refresh_from_db()
    assert req.state == RequestState.APPROVED
    assert Grant.objects.filter(request=req, role="db-admin").count() == 1


def test_review_deny(run, bob, requester):
    req = _create(requester)
    result = run("request", "review", str(req.pk), "--deny", "--reason", "use read-only", env=bob)
    assert result.code == 0, result.err
    assert "It is now DENIED." in result.out
    req.refresh_from_db()
    assert req.state == RequestState.DENIED


def test_reviewing_your_own_request_is_refused(run, alice, requester):
    req = _create(requester)
    result = run("request", "review", str(req.pk), "--approve", env=alice)
    assert result.code == 1
    assert result.err.startswith("accessctl: error: ")
    req.refresh_from_db()
    assert req.state == RequestState.PENDING


def test_reviewing_a_decided_request_is_refused_with_the_servers_message(run, bob, requester):
    req = _create(requester)
    assert run("request", "review", str(req.pk), "--approve", env=bob).code == 0
    again = run("request", "review", str(req.pk), "--deny", env=bob)
    assert again.code == 1
    assert again.err.startswith("accessctl: error: ")
    assert len(again.err.strip().splitlines()) == 1


def test_review_without_a_reason_is_refused_where_the_request_needs_one(
    run, bob, requester, apply_yaml
):
    apply_yaml(
        "kind: role\nname: engineer\nspec:\n  allow:\n    request:\n"
        "      roles: [db-admin]\n      reason: {mode: required}\n"
    )
    req = _create(requester)
    result = run("request", "review", str(req.pk), "--approve", env=bob)
    assert result.code == 1
    assert "a reason is required to review this request" in result.err
    req.refresh_from_db()
    assert req.state == RequestState.PENDING and not req.reviews.exists()


def test_withdraw(run, alice, bob, requester):
    req = _create(requester)
    assert run("request", "withdraw", str(req.pk), env=bob).code == 1  # not bob's
    result = run("request", "withdraw", str(req.pk), "--reason", "fixed it", env=alice)
    assert (result.code, result.out) == (0, f"Withdrew request {req.pk}.\n")
    req.refresh_from_db()
    assert req.state == RequestState.WITHDRAWN


# -- grants and access check -----------------------------------------------------------------


def _approved(requester, user, **kwargs) -> AccessRequest:
    req = _create(requester, **kwargs)
    return review_submit(request_id=req.pk, reviewer=user("bob"), state="APPROVED", reason="ok")


def test_grants_ls_and_end(run, alice, as_user, requester, user):
    req = _approved(requester, user, roles=["db-admin", "dev-admin"])
    grant = Grant.objects.get(request=req, role="db-admin")

    listing = run("grants", "ls", "--active", env=alice)
    assert listing.code == 0, listing.err
    header, *rows = listing.out.splitlines()
    assert header.split() == [
        "ID",
        "USER",
        "ACCESS",
        "STATUS",
        "PROVISIONING",
        "STARTS",
        "ENDS",
        "REQUEST",
    ]
    assert len(rows) == 2
    # The request id reads as in `request ls`: its first 8 characters, last column.
    assert all("active" in row and row.split()[-1] == str(req.pk)[:8] for row in rows)

    refused = run("grants", "end", str(grant.pk), env=as_user("mallory"))
    assert refused.code == 1
    assert refused.err == f"accessctl: error: grant {grant.pk} not found (or you may not see it)\n"
    # Digits long enough to begin a request id, matching neither: still the grant is missing.
    missing = run("grants", "end", "987654321", env=alice)
    assert missing.code == 1
    assert missing.err == "accessctl: error: grant 987654321 not found (or you may not see it)\n"

    ended = run("grants", "end", str(grant.pk), "--reason", "done", env=alice)
    assert ended.code == 0, ended.err
    assert ended.out == (
        f"Ended access to db-admin, dev-admin for alice (request {req.pk} is now REVOKED).\n"
    )
    req.refresh_from_db()
    assert (req.state, req.revoke_reason) == (RequestState.REVOKED, "done")
    assert run("grants", "ls", "--active", env=alice).out == "No active access.\n"
    assert run("grants", "ls", "--json", env=alice).json[0]["revoked"] is True


def test_grants_end_accepts_a_request_id_and_reports_a_second_end(run, alice, requester, user):
    req = _approved(requester, user)
    assert run("grants", "end", str(req.pk), env=alice).code == 0
    again = run("grants", "end", str(req.pk), env=alice)
    assert again.code == 1
    assert "revoked" in again.err


def test_access_check_answers_with_exit_status(run, alice, requester, user):
    no = run("access", "check", "alice", "--role", "db-admin", env=alice)
    assert (no.code, no.out) == (3, "no: alice does not have db-admin now.\n")

    _approved(requester, user)
    yes = run("access", "check", "alice", "--role", "db-admin", env=alice)
    assert yes.code == 0, yes.err
    assert re.fullmatch(rf"yes: alice has db-admin through a grant, until {ABS_REL}\.\n", yes.out)

    standing = run("access", "check", "alice", "--role", "engineer", env=alice)
    assert standing.code == 0
    assert standing.out == "yes: alice has engineer (standing role, no end).\n"
    as_json = run("access", "check", "alice", "--role", "engineer", "--json", env=alice)
    assert as_json.json["allowed"] is True

    resource = run("access", "check", "alice", "--resource", "node/db-prod-1", env=alice)
    assert (resource.code, resource.out) == (3, "no: alice does not reach node/db-prod-1 now.\n")


def test_access_check_of_someone_else_needs_permission(run, as_user, base_policy):
    result = run("access", "check", "alice", "--role", "db-admin", env=as_user("mallory"))
    assert result.code == 1
    assert result.err.startswith("accessctl: error: ")


# -- extend ------------------------------------------------------------------------------


def test_request_extend_creates_a_linked_request_and_prints_it(run, alice, requester, user):
    original = _approved(requester, user, max_duration="2h")
    result = run(
        "request",
        "extend",
        str(original.pk),
        "--reason",
        "INC-1 still open",
        "--max-duration",
        "1h",
        "--reviewers",
        "carol",
        env=alice,
    )
    assert result.code == 0, result.err
    extension = AccessRequest.objects.get(extends=original)
    assert (extension.state, extension.roles, extension.max_duration) == (
        RequestState.PENDING,
        ["db-admin"],
        3600,
    )
    assert extension.reason == "INC-1 still open" and extension.suggested_reviewers == ["carol"]
    assert result.out.startswith(f"Created request {extension.pk} to extend {original.pk}.\n")
    assert re.search(rf"Extends:\s+{original.pk}", result.out)
    assert re.search(r"Access:\s+1h, from the end of the access it extends \(", result.out)
    assert f"accessctl request show {extension.pk} --wait" in result.out
    shown = run("request", "show", str(extension.pk), "--json", env=alice)
    assert shown.json["extends"] == str(original.pk)


def test_request_extend_of_someone_elses_access_is_refused_as_on_the_api(
    run, as_user, requester, user
):
    original = _approved(requester, user)
    seen = run("request", "extend", str(original.pk), "--reason", "x", env=as_user("bob"))
    assert seen.code == 1
    assert seen.err == "accessctl: error: only the requester may extend their access\n"
    unseen = run("request", "extend", str(original.pk), "--reason", "x", env=as_user("mallory"))
    assert unseen.code == 1
    assert "not found" in unseen.err
    assert not AccessRequest.objects.filter(extends=original).exists()


def test_request_extend_wait_exits_0_when_approved_and_access_continues(
    run, alice, requester, user
):
    original = _approved(requester, user, max_duration="2h")
    result = run(
        "request",
        "extend",
        str(original.pk),
        "--reason",
        "INC-1",
        "--max-duration",
        "1h",
        "--wait",
        env=alice,
        sleep=pauses(_review("carol", "APPROVED", reason="fine")),
    )
    assert result.code == 0, result.err
    extension = AccessRequest.objects.get(extends=original)
    lines = result.out.splitlines()
    assert lines[0] == f"Created request {extension.pk} to extend {original.pk} (db-admin)."
    assert lines[1].startswith("+ carol approved: fine")
    assert lines[2].startswith(f"Request {extension.pk} APPROVED: access to db-admin from ")
    assert extension.state == RequestState.APPROVED
    assert extension.access_starts == original.access_expires  # no gap


def test_request_extend_dry_run_and_json(run, alice, requester, user):
    original = _approved(requester, user)
    dry = run("request", "extend", str(original.pk), "--reason", "x", "--dry-run", env=alice)
    assert dry.code == 0, dry.err
    assert dry.out.startswith("Dry run: the extension is valid and nothing was stored.")
    assert not AccessRequest.objects.filter(extends=original).exists()
    as_json = run("request", "extend", str(original.pk), "--json", env=alice)
    assert as_json.code == 0, as_json.err
    assert as_json.json["extends"] == str(original.pk) and as_json.json["state"] == "PENDING"


def test_request_extend_refusals_print_the_servers_message(
    run, alice, bob, as_user, requester, user
):
    pending = _create(requester)
    not_approved = run("request", "extend", str(pending.pk), "--reason", "x", env=alice)
    assert (not_approved.code, not_approved.err) == (
        1,
        "accessctl: error: only approved access can be extended; this request is pending\n",
    )
    original = _approved(requester, user)
    not_bobs = run("request", "extend", str(original.pk), "--reason", "x", env=bob)
    assert (not_bobs.code, not_bobs.err) == (
        1,
        "accessctl: error: only the requester may extend their access\n",
    )
    unseen = run("request", "extend", str(original.pk), env=as_user("mallory"))
    assert unseen.code == 1
    assert unseen.err == (
        f"accessctl: error: request {original.pk} not found (or you may not see it)\n"
    )
    assert not AccessRequest.objects.filter(extends__isnull=False).exists()


# -- --wait ------------------------------------------------------------------------------


def test_wait_exits_0_when_a_reviewer_approves_from_another_thread(create_and_wait, alice):
    result = create_and_wait(
        reason="INC-9",
        env=alice,
        sleep=pauses(_review("bob", "APPROVED", reason="on call, go ahead")),
    )
    assert result.code == 0, result.err
    req = _latest("alice")
    lines = result.out.splitlines()
    assert lines[0] == f"Created request {req.pk} for db-admin."
    assert re.fullmatch(r"\+ bob approved: on call, go ahead \(.* UTC\)", lines[1])
    assert re.fullmatch(
        rf"Request {req.pk} APPROVED: access to db-admin from {ABS_REL} until {ABS_REL}\.",
        lines[2],
    )
    assert req.state == RequestState.APPROVED


def test_wait_shows_each_review_as_it_arrives(create_and_wait, as_user, apply_yaml):
    apply_yaml(TWO_PERSON_POLICY)
    result = create_and_wait(
        reason="INC-10",
        env=as_user("dave"),
        sleep=pauses(
            lambda: None,  # a poll with nothing new
            _review("bob", "APPROVED", requester="dave", reason="one"),
            _review("carol", "APPROVED", requester="dave", reason="two"),
        ),
    )
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[1].startswith("+ bob approved: one")
    assert lines[2].startswith("+ carol approved: two")
    assert " APPROVED: access to db-admin" in lines[3]


def test_wait_exits_3_when_denied(create_and_wait, alice):
    result = create_and_wait(
        reason="INC-11",
        env=alice,
        sleep=pauses(_review("bob", "DENIED", reason="use the read-only role")),
    )
    assert result.code == 3
    assert "- bob denied: use the read-only role" in result.out
    assert f"Request {_latest('alice').pk} DENIED" in result.out


def test_wait_exits_3_when_withdrawn_elsewhere(create_and_wait, alice, user):
    def withdraw():
        access_request_withdraw(request_id=_latest("alice").pk, actor=user("alice"))

    result = create_and_wait(env=alice, sleep=pauses(withdraw))
    assert result.code == 3
    assert "was WITHDRAWN" in result.out


def test_wait_exits_3_when_the_request_expires(create_and_wait, alice):
    def expire():  # the pending time runs out and the worker's sweep runs
        AccessRequest.objects.update(expires=timezone.now() - timedelta(seconds=1))
        assert access_requests_expire_due() == 1

    result = create_and_wait(env=alice, sleep=pauses(expire))
    assert result.code == 3
    assert f"Request {_latest('alice').pk} EXPIRED: nobody decided before " in result.out
    assert _latest("alice").state == RequestState.EXPIRED


def test_wait_gives_up_at_the_pending_deadline_even_without_a_worker(create_and_wait, alice):
    def deadline_passes():
        AccessRequest.objects.update(expires=timezone.now() - timedelta(hours=1))

    result = create_and_wait(env=alice, sleep=pauses(deadline_passes))
    assert result.code == 3
    assert "EXPIRED: nobody decided before" in result.out
    assert _latest("alice").state == RequestState.PENDING  # the client changed nothing


def test_ctrl_c_while_waiting_leaves_the_request_and_says_how_to_follow_it(create_and_wait, alice):
    def interrupt(_seconds):
        raise KeyboardInterrupt

    result = create_and_wait(env=alice, sleep=interrupt)
    req = _latest("alice")
    assert result.code == 130
    assert f"accessctl request show {req.pk}" in result.err
    assert req.state == RequestState.PENDING


def test_show_wait_picks_up_an_existing_request(run, alice, requester):
    req = _create(requester)
    result = run(
        "request",
        "show",
        str(req.pk),
        "--wait",
        "--json",
        env=alice,
        sleep=pauses(_review("bob", "APPROVED")),
    )
    assert result.code == 0
    assert result.json["state"] == "APPROVED"  # stdout is only the JSON
    assert "bob approved" in result.err


def test_wait_on_a_terminal_draws_a_spinner_and_colours(create_and_wait, alice):
    result = create_and_wait(env=alice, tty=True, sleep=pauses(_review("bob", "APPROVED")))
    assert result.code == 0
    assert "waiting for reviewers of" in result.err
    assert "\r\x1b[K" in result.err  # the spinner line is cleared before output
    assert "\x1b[32mAPPROVED\x1b[0m" in result.out


def test_no_color_turns_colour_off_on_a_terminal(run, alice, requester):
    req = _create(requester)
    result = run("request", "show", str(req.pk), env={**alice, "NO_COLOR": "1"}, tty=True)
    assert result.code == 0
    assert "\x1b[" not in result.out


# -- provisioning ------------------------------------------------------------------------------


def test_grants_show_provisioning_per_target_and_revoking(
    run, alice, requester, user, apply_yaml, groups
):
    from tests.requests_app.provisioning.conftest import db_admin_provisioning

    ok, down = groups("ok"), groups("down")
    apply_yaml(db_admin_provisioning(ok.yaml(), down.yaml()))
    down.mode("fail")
    req = _approved(requester, user)  # committed: the workers ran after commit (eager)
    grant = Grant.objects.get(request=req)

    listing = run("grants", "ls", env=alice)
    assert listing.code == 0, listing.err
    (row,) = listing.out.splitlines()[1:]
    assert "active" in row and "1 failed, 1 applied" in row

    shown = run("grants", "show", str(grant.pk), env=alice)
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert "Provisioning:" in lines
    assert any(re.match(r"group down\s+files\s+failed\s+.*group down refused", x) for x in lines)
    assert any(re.match(r"group ok\s+files\s+applied\s", x) for x in lines)

    as_json = run("grants", "ls", "--json", env=alice).json
    assert {r["state"] for r in as_json[0]["provisioning"]} == {"applied", "failed"}

    assert run("grants", "end", str(grant.pk), "--reason", "done", env=alice).code == 0
    listing = run("grants", "ls", env=alice)
    (row,) = listing.out.splitlines()[1:]
    assert "revoking" in row and "1 revoking, 1 removed" in row
    assert run("grants", "show", "999999", env=alice).code == 1
