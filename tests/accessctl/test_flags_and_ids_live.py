"""accessctl against the live server (issue 19): refusals name the flag typed, request ids by
a unique prefix, short ids alike in listings, grants in the server's words, `access check`
of the caller, `--output json` on every command, and `--wait` progress without a terminal.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from requests_app.models import AccessRequest
from requests_app.services.grants import access_request_revoke
from tests.accessctl.test_live import _approved, _create, pauses

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("_server_idle_at_teardown"),
]

API_FIELDS = ("max_duration", "request_ttl", "assume_start_time", "suggested_reviewers")


def _create_cli(run, env, *extra):
    return run("request", "create", "--roles", "db-admin", "--reason", "INC-9", *extra, env=env)


# -- durations and times: the server validates, errors name the flag ---------------------


def test_a_duration_in_weeks_is_accepted_as_the_server_accepts_it(run, alice):
    result = _create_cli(run, alice, "--max-duration", "1w", "--request-ttl", "1w", "--json")
    assert result.code == 0, result.err
    assert result.json["requested_duration"] == 7 * 86400
    req = AccessRequest.objects.get(pk=result.json["id"])
    assert req.expires - req.created == timedelta(weeks=1)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            ["--max-duration", "4 hours"],
            "accessctl: error: --max-duration: '4 hours' is not a duration: use seconds or "
            "units s, m, h, d, w (e.g. '90m', '4h', '2d', '1h30m'), without spaces\n",
        ),
        (
            ["--max-duration", "15d"],
            "accessctl: error: --max-duration may be at most 14d (asked for 15d)\n",
        ),
        (
            ["--request-ttl", "2w"],
            "accessctl: error: --request-ttl may be at most 7d (asked for 14d)\n",
        ),
        (["--start", "tomorrow"], "accessctl: error: --start: Datetime has wrong format."),
        (["--start", "2020-01-01T00:00:00Z"], "accessctl: error: --start is in the past\n"),
        (
            ["--reviewers", "nobody-such"],
            "accessctl: error: --reviewers: unknown suggested reviewer(s): nobody-such\n",
        ),
        (
            ["--roles", "bad name!"],
            "accessctl: error: --roles: 'bad name!' is not a role name",
        ),
    ],
    ids=["malformed duration", "above ceiling", "ttl", "not a time", "past", "reviewer", "role"],
)
def test_a_refused_flag_is_named_as_typed_not_as_the_api_field(run, alice, extra, expected):
    result = _create_cli(run, alice, *extra)
    assert result.code == 1, result.out
    assert result.err.startswith(expected), result.err
    assert not any(field in result.err for field in API_FIELDS), result.err
    assert len(result.err.splitlines()) == 1
    assert AccessRequest.objects.count() == 0


def test_every_refused_flag_is_named_at_once(run, alice):
    result = _create_cli(run, alice, "--max-duration", "soon", "--request-ttl", "later")
    assert result.code == 1
    assert re.fullmatch(
        r"accessctl: error: --max-duration: 'soon' is not a duration.*; "
        r"--request-ttl: 'later' is not a duration.*\n",
        result.err,
    ), result.err


def test_review_and_extend_name_their_flags_too(run, alice, bob, requester, user):
    pending = _create(requester)
    review = run("request", "review", str(pending.pk), "--approve", "--start", "soon", env=bob)
    assert review.code == 1
    assert review.err.startswith("accessctl: error: --start: "), review.err

    approved = _approved(requester, user)
    extend = run(
        "request", "extend", str(approved.pk), "--reason", "x", "--max-duration", "a while",
        env=alice,
    )  # fmt: skip
    assert extend.code == 1
    assert extend.err.startswith("accessctl: error: --max-duration: 'a while' is not a duration")


def test_with_output_json_an_error_is_a_json_object_on_stderr(run, alice):
    result = _create_cli(run, alice, "--max-duration", "15d", "--output", "json")
    assert (result.code, result.out) == (1, "")
    error = json.loads(result.err)["error"]
    assert error["status"] == 422 and error["code"] == "unprocessable"
    assert error["exit_code"] == 1
    assert error["message"].startswith("--max-duration may be at most 14d")


# -- request ids by prefix ---------------------------------------------------------------


@pytest.fixture
def ids_starting(monkeypatch):
    """ids_starting("3f2c", "3f2c", "9a00"): the next requests created get ids with these
    prefixes (uuid4 otherwise), to make two requests share a prefix on purpose."""

    def _set(*prefixes: str) -> None:
        queue = [uuid.UUID(p + uuid.uuid4().hex[len(p) :]) for p in prefixes]
        field = AccessRequest._meta.get_field("id")
        monkeypatch.setattr(field, "_get_default", lambda: queue.pop(0) if queue else uuid.uuid4())

    return _set


def test_a_unique_prefix_names_a_request_in_show_review_and_withdraw(
    run, alice, bob, requester, ids_starting
):
    ids_starting("abcd1234", "abcd5678")
    first, second = _create(requester), _create(requester, roles=["dev-admin"])

    shown = run("request", "show", "abcd1", "--json", env=alice)
    assert shown.code == 0, shown.err
    assert shown.json["id"] == str(first.pk)

    reviewed = run("request", "review", "ABCD5", "--deny", "--reason", "no", env=bob)
    assert reviewed.code == 0, reviewed.err
    assert reviewed.out.startswith(f"You denied request {second.pk} ")

    withdrawn = run("request", "withdraw", str(first.pk)[:8], env=alice)
    assert (withdrawn.code, withdrawn.out) == (0, f"Withdrew request {first.pk}.\n")
    first.refresh_from_db()
    assert first.state == "WITHDRAWN"


def test_an_ambiguous_prefix_lists_the_candidates(run, alice, requester, ids_starting):
    ids_starting("3f2c0001", "3f2c0002", "9a9a0003")
    first, second = _create(requester), _create(requester, roles=["dev-admin"])
    _create(requester)

    result = run("request", "show", "3f2c", env=alice)
    assert result.code == 2
    head, *candidates = result.err.splitlines()
    assert head == (
        "accessctl: error: request id prefix '3f2c' is ambiguous: 2 requests start with it; "
        "give more characters of the one you mean; the candidates are:"
    )
    assert sorted(candidates) == sorted(
        [
            f"  {first.pk}  alice  db-admin  PENDING",
            f"  {second.pk}  alice  dev-admin  PENDING",
        ]
    )
    assert run("request", "show", "3f2c0002", "--json", env=alice).json["id"] == str(second.pk)


def test_a_prefix_matches_only_requests_the_caller_may_see(
    run, as_user, requester, user, ids_starting
):
    ids_starting("feedbeef")
    _create(requester)
    user("mallory")
    result = run("request", "show", "feedbeef", env=as_user("mallory"))
    assert result.code == 1
    assert result.err == "accessctl: error: request feedbeef not found (or you may not see it)\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["request", "show", "3f2"],  # too short
        ["request", "withdraw", "r1d2"],  # not hex
        ["request", "review", "3f2c9d1e0", "--approve"],  # no dash where the id has one
        ["grants", "end", "xyz1"],
    ],
    ids=["too short", "not hex", "dash missing", "grants end"],
)
def test_what_cannot_begin_a_request_id_is_a_usage_error_about_what_was_typed(run, alice, argv):
    result = run(*argv, env=alice)
    assert result.code == 2, result.err
    assert result.err.startswith(f"accessctl: error: {argv[2]!r} is not a request id; ")
    # The server's rule, as it says it: how many digits, and the dashes.
    assert "4 or more hex digits" in result.err
    assert "id_prefix" not in result.err


def test_an_all_digit_id_that_is_no_grant_nor_the_beginning_of_a_request_is_a_missing_grant(
    run, alice
):
    result = run("grants", "end", "123", "--reason", "done", env=alice)
    assert result.code == 1
    assert result.err == "accessctl: error: grant 123 not found (or you may not see it)\n"


def test_prefix_lookup_asks_the_server_for_one_short_page(run, alice, requester, ids_starting):
    """More requests share a prefix than the page holds: the count comes from the server,
    and the candidates listed are one page of them."""
    ids_starting(*(f"5eed{n:04x}" for n in range(12)))
    for _ in range(12):
        _create(requester)
    result = run("request", "show", "5eed", env=alice)
    assert result.code == 2
    head, *candidates = result.err.splitlines()
    assert "'5eed' is ambiguous: 12 requests start with it" in head
    assert len(candidates) == 11
    assert candidates[-1] == "  ... and 2 more"
    assert all(c.startswith("  5eed") for c in candidates[:-1])


@pytest.mark.parametrize("prefix", ["abcdef", "123456"], ids=["hex", "digits, no such grant"])
def test_grants_end_takes_a_request_prefix(run, alice, requester, user, ids_starting, prefix):
    ids_starting(prefix)
    req = _approved(requester, user)
    result = run("grants", "end", prefix, "--reason", "done", env=alice)
    assert result.code == 0, result.err
    req.refresh_from_db()
    assert req.state == "REVOKED"


def test_request_and_grant_listings_show_the_same_short_request_id(run, alice, requester, user):
    req = _approved(requester, user)
    requests_out = run("request", "ls", env=alice).out.splitlines()
    grants_out = run("grants", "ls", env=alice).out.splitlines()
    assert requests_out[1].split()[0] == str(req.pk)[:8]
    assert grants_out[1].split()[-1] == str(req.pk)[:8]
    assert str(req.pk) not in "\n".join(requests_out + grants_out)


# -- grants and requests in the README's words; revoked access has no "expires in" -------


def test_revoked_access_shows_when_it_was_revoked_not_when_it_would_have_expired(
    run, alice, requester, user
):
    req = _approved(requester, user)
    access_request_revoke(request_id=req.pk, actor=user("alice"), reason="done")

    listing = run("grants", "ls", env=alice)
    assert listing.code == 0, listing.err
    row = listing.out.splitlines()[1]
    assert re.search(r"\b(revoked|revoking)\b", row)
    assert re.search(r"revoked \d{4}-\d\d-\d\d \d\d:\d\d UTC \((\d+s ago|just now)\)", row), row
    assert " in " not in row.split("UTC", 1)[1], row  # no "(in 7h 59m)" for its end

    shown = run("request", "show", str(req.pk), env=alice)
    assert re.search(r"State:\s+REVOKED", shown.out)
    assert re.search(r"Access ended:\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC \(", shown.out)
    assert "Access expires" not in shown.out

    grant_id = listing.out.splitlines()[1].split()[0]
    one = run("grants", "show", grant_id, env=alice)
    assert re.search(r"Ends:\s+revoked \d{4}-", one.out), one.out
    assert "(in " not in one.out


def test_scheduled_access_is_called_scheduled_as_the_server_says(run, alice, requester, user):
    start = timezone.now() + timedelta(hours=3)
    _approved(requester, user, assume_start_time=start)
    listing = run("grants", "ls", env=alice)
    row = listing.out.splitlines()[1]
    assert re.search(r"\bscheduled\b", row), row
    assert "upcoming" not in listing.out


def test_request_states_are_the_readmes_words(run, alice, requester, capsys):
    _create(requester)
    listing = run("request", "ls", "--state", "Pending", env=alice)
    assert listing.code == 0, listing.err
    assert " PENDING " in listing.out
    bad = run("request", "ls", "--state", "open", env=alice)
    assert bad.code == 2
    err = capsys.readouterr().err + bad.err  # argparse writes to the process's stderr
    assert "choose from PENDING, APPROVED, DENIED, EXPIRED, WITHDRAWN, REVOKED" in err


# -- access check of the caller ------------------------------------------------------------


def test_access_check_without_a_user_checks_the_caller(run, alice, requester, user):
    no = run("access", "check", "--role", "db-admin", env=alice)
    assert (no.code, no.out) == (3, "no: alice does not have db-admin now.\n")
    _approved(requester, user)
    yes = run("access", "check", "--role", "db-admin", env=alice)
    assert yes.code == 0, yes.err
    assert yes.out.startswith("yes: alice has db-admin through a grant, until ")
    as_json = run("access", "check", "--role", "db-admin", "-o", "json", env=alice)
    assert as_json.json["user"] == "alice" and as_json.json["allowed"] is True


# -- --output json on every command ---------------------------------------------------------


def test_every_command_prints_json_with_output_json(run, alice, bob, requester, user):
    req = _approved(requester, user)
    pending = _create(requester, roles=["dev-admin"])
    grant_id = run("grants", "ls", "--json", env=alice).json[0]["id"]
    commands = [
        (["whoami"], alice, lambda j: j["user"] == "alice"),
        (["request", "ls"], alice, lambda j: {r["id"] for r in j} >= {str(req.pk)}),
        (["request", "show", str(pending.pk)[:8]], alice, lambda j: j["id"] == str(pending.pk)),
        (["resources", "search"], alice, lambda j: isinstance(j, list)),
        (["grants", "ls"], alice, lambda j: j[0]["request"] == str(req.pk)),
        (["grants", "show", str(grant_id)], alice, lambda j: j["id"] == grant_id),
        (["access", "check", "--role", "db-admin"], alice, lambda j: j["allowed"] is True),
        (["credentials"], alice, lambda j: j["token"].count(".") == 2),
        (["completion", "bash"], alice, lambda j: "complete -F" in j["script"]),
        (
            ["request", "create", "--roles", "db-admin", "--reason", "x", "--dry-run"],
            alice,
            lambda j: j["id"] is None,
        ),
        (
            ["request", "review", str(pending.pk), "--deny", "--reason", "no"],
            bob,
            lambda j: j["state"] == "DENIED",
        ),
    ]
    for argv, env, check in commands:
        result = run(*argv, "--output", "json", env=env)
        assert result.code in (0, 3), (argv, result.err)
        assert check(json.loads(result.out)), argv


# -- --wait without a terminal ---------------------------------------------------------------


def test_wait_without_a_terminal_prints_plain_progress_lines_at_an_interval(
    run, alice, bob, requester, user
):
    """stderr is a pipe: no spinner, no control characters; a line at the start and then
    every 30 seconds of waiting (the test's clock moves 20 s per poll)."""
    now = [1000.0]

    def clock() -> float:
        return now[0]

    def idle():
        now[0] += 20

    def approve():
        now[0] += 20
        from requests_app.services.reviews import review_submit

        req = AccessRequest.objects.get(user__username="alice")
        review_submit(request_id=req.pk, reviewer=user("bob"), state="APPROVED", reason="ok")

    result = run(
        "request", "create", "--roles", "db-admin", "--reason", "x", "--wait",
        env=alice, sleep=pauses(idle, idle, idle, idle, approve), clock=clock,
    )  # fmt: skip
    assert result.code == 0, result.err
    rid = AccessRequest.objects.get().pk
    lines = result.err.splitlines()
    short = str(rid)[:8]
    assert [re.sub(r" so far.*", "", line) for line in lines] == [
        f"waiting for review of request {short} (0s)... 0 approvals",
        f"waiting for review of request {short} (40s)... 0 approvals",
        f"waiting for review of request {short} (1m)... 0 approvals",
    ]
    assert all("expires in 23h" in line for line in lines)
    assert "\r" not in result.err and "\x1b" not in result.err
    assert f"Request {rid} APPROVED" in result.out
