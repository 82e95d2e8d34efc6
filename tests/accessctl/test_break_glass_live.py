"""`accessctl request create --break-glass`, `request ls --awaiting-ratification` and
`request ratify`, against a live test server through the real API."""

from __future__ import annotations

import pytest

from accessportal.kernel.choices import RequestState
from requests_app.break_glass_models import BreakGlass, Ratification
from requests_app.models import AccessRequest
from tests.policies import BREAK_GLASS

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("_server_idle_at_teardown"),
]


@pytest.fixture
def glass(base_policy, apply_yaml):
    apply_yaml(BREAK_GLASS)


def _break_glass(run, env, *extra):
    return run(
        "request", "create", "--roles", "db-admin", "--break-glass",
        "--reason", "INC-7 db down", "--max-duration", "4h", *extra, env=env,
    )  # fmt: skip


def test_break_glass_then_ratify_from_the_cli(run, glass, alice, bob):
    created = _break_glass(run, alice)
    assert created.code == 0, created.err
    request = AccessRequest.objects.get()
    assert request.state == RequestState.APPROVED
    assert "awaiting ratification, by" in created.out

    queue = run("request", "ls", "--awaiting-ratification", env=bob)
    assert queue.code == 0, queue.err
    assert "alice" in queue.out and "db-admin" in queue.out

    ratified = run("request", "ratify", str(request.pk), "--reason", "INC-7 is real", env=bob)
    assert ratified.code == 0, ratified.err
    assert ratified.out.startswith(f"You ratified the break-glass use {request.pk}")
    assert "Access continues until" in ratified.out
    assert BreakGlass.objects.get().state == Ratification.RATIFIED


def test_reject_from_the_cli_revokes(run, glass, alice, bob):
    _break_glass(run, alice)
    request = AccessRequest.objects.get()
    rejected = run(
        "request", "ratify", str(request.pk), "--reject", "--reason", "no incident", env=bob
    )
    assert rejected.code == 0, rejected.err
    assert "revoked now and its requester flagged" in rejected.out
    request.refresh_from_db()
    assert request.state == RequestState.REVOKED


def test_break_glass_refusals_name_the_flag(run, glass, alice):
    refused = run(
        "request", "create", "--roles", "dev-admin", "--break-glass", "--reason", "x", env=alice
    )
    assert refused.code != 0
    assert "break-glass is not allowed for dev-admin" in refused.err
    assert _break_glass(run, alice).code == 0
    second = _break_glass(run, alice)
    assert second.code != 0 and "awaiting ratification" in second.err


def test_break_glass_cannot_be_a_dry_run(run, glass, alice, capsys):
    result = _break_glass(run, alice, "--dry-run")
    assert result.code == 2 and "--dry-run does not apply" in capsys.readouterr().err


def test_requester_cannot_ratify_their_own_from_the_cli(run, glass, alice):
    _break_glass(run, alice)
    request = AccessRequest.objects.get()
    result = run("request", "ratify", str(request.pk), "--reason", "me", env=alice)
    assert result.code != 0 and "their own request" in result.err
