"""Durations, pending TTL and start-time bounds; the access window starts at approval."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accessportal.kernel.errors import ValidationFailed
from policies_app.durations import SCHEMA_PATTERN, DurationError, parse_duration
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit

HOUR = 3600

CAPS = """
kind: role
name: short
spec:
  allow:
    request: {roles: [db-admin, dev-admin], max_duration: 2h}
---
kind: role
name: long
spec:
  allow:
    request: {roles: [db-admin], max_duration: 3d}
---
kind: user
name: alice
roles: [short, long]
"""


def test_default_duration_is_eight_hours(requester):
    request = access_request_create(requester=requester, roles=["db-admin"])
    assert request.max_duration == 8 * HOUR


def test_requested_duration_within_the_cap_is_kept(requester):
    request = access_request_create(requester=requester, roles=["db-admin"], max_duration="90m")
    assert request.requested_duration == request.max_duration == 90 * 60


def test_largest_cap_among_allowing_roles_applies(requester, apply_yaml):
    apply_yaml(CAPS)
    request = access_request_create(requester=requester, roles=["db-admin"], max_duration="5d")
    assert request.requested_duration == 5 * 24 * HOUR
    assert request.max_duration == 3 * 24 * HOUR


def test_smallest_item_cap_applies_to_the_whole_request(requester, apply_yaml):
    apply_yaml(CAPS)
    request = access_request_create(
        requester=requester, roles=["db-admin", "dev-admin"], max_duration="1d"
    )
    assert request.max_duration == 2 * HOUR


def test_duration_above_fourteen_days_is_refused(requester):
    with pytest.raises(ValidationFailed, match="at most 14d") as err:
        access_request_create(requester=requester, roles=["db-admin"], max_duration="15d")
    assert err.value.field == "max_duration"


def test_nonsense_duration_is_refused(requester):
    with pytest.raises(ValidationFailed, match="not a duration"):
        access_request_create(requester=requester, roles=["db-admin"], max_duration="soon")


def test_pending_ttl_defaults_to_a_day(requester):
    request = access_request_create(requester=requester, roles=["db-admin"])
    assert request.expires - request.created == timedelta(hours=24)


def test_pending_ttl_above_seven_days_is_refused(requester):
    assert access_request_create(requester=requester, roles=["db-admin"], request_ttl="7d")
    with pytest.raises(ValidationFailed, match="request_ttl may be at most 7d"):
        access_request_create(requester=requester, roles=["db-admin"], request_ttl="8d")


def test_start_time_in_the_past_is_refused(requester):
    with pytest.raises(ValidationFailed, match="in the past"):
        access_request_create(
            requester=requester,
            roles=["db-admin"],
            assume_start_time=timezone.now() - timedelta(hours=1),
        )


def test_start_time_more_than_seven_days_ahead_is_refused(requester):
    now = timezone.now()
    ok = access_request_create(
        requester=requester, roles=["db-admin"], assume_start_time=now + timedelta(days=6)
    )
    assert ok.assume_start_time == now + timedelta(days=6)
    with pytest.raises(ValidationFailed, match="at most 7d ahead"):
        access_request_create(
            requester=requester, roles=["db-admin"], assume_start_time=now + timedelta(days=8)
        )


def test_naive_start_time_is_refused(requester):
    with pytest.raises(ValidationFailed, match="time zone"):
        access_request_create(
            requester=requester,
            roles=["db-admin"],
            assume_start_time=timezone.now().replace(tzinfo=None) + timedelta(hours=1),
        )


def test_access_window_starts_at_approval_not_at_request(requester, reviewer):
    with time_machine.travel("2026-03-01 09:00Z", tick=False):
        request = access_request_create(requester=requester, roles=["db-admin"], max_duration="4h")
    with time_machine.travel("2026-03-01 12:00Z", tick=False):
        request = review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")
        approved_at = timezone.now()
    assert request.access_starts == approved_at
    assert request.access_expires == approved_at + timedelta(hours=4)
    grant = request.grants.get()
    assert (grant.starts, grant.expires) == (request.access_starts, request.access_expires)


def test_access_window_starts_at_assume_start_time_when_later(requester, reviewer):
    with time_machine.travel("2026-03-01 09:00Z", tick=False):
        start = timezone.now() + timedelta(days=1)
        request = access_request_create(
            requester=requester, roles=["db-admin"], max_duration="4h", assume_start_time=start
        )
        request = review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")
    assert request.access_starts == start
    assert request.access_expires == start + timedelta(hours=4)


def test_reviewer_may_move_the_start_time(requester, reviewer):
    with time_machine.travel("2026-03-01 09:00Z", tick=False):
        start = timezone.now() + timedelta(hours=2)
        request = access_request_create(requester=requester, roles=["db-admin"], max_duration="1h")
        request = review_submit(
            request_id=request.id, reviewer=reviewer, state="APPROVED", assume_start_time=start
        )
    assert request.access_starts == start


@pytest.mark.parametrize(
    "written",
    ["٣h", "３h", "1h 30m", " 4h", "4h ", "4\u00a0h", "3600.0", "1.5h", "4hours", "0x10", "9" * 40],
)
def test_durations_are_ascii_digits_and_units_without_spaces(requester, written):
    """Python's `\\d` and `int()` read "٣h" (an Arabic-Indic 3) as three hours."""
    with pytest.raises(ValidationFailed, match="not a duration") as err:
        access_request_create(requester=requester, roles=["db-admin"], max_duration=written)
    assert err.value.field == "max_duration"


@pytest.mark.parametrize("written", [3600.0, 1.5])
def test_a_duration_is_whole_seconds_not_a_float(written):
    with pytest.raises(DurationError, match="not a duration"):
        parse_duration(written)


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("90m", 5400), ("4H", 4 * HOUR), ("1h30m", 5400), ("2d", 2 * 86400), ("1w", 7 * 86400),
     ("45", 45), (45, 45), ("0h1s", 1)],
)  # fmt: skip
def test_the_documented_duration_formats_still_read(written, seconds):
    assert parse_duration(written) == seconds


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789smhdwSMHDW ٣x.-", max_size=12))
def test_the_schema_pattern_accepts_exactly_what_the_parser_reads(text):
    """The grammar, that is: the ceilings (14d, 7d) are the callers'."""
    try:
        parse_duration(text)
        parsed = True
    except DurationError:
        parsed = False
    assert bool(re.search(SCHEMA_PATTERN, text)) == parsed, text


def test_a_well_formed_duration_above_the_ceiling_is_refused_for_its_length(requester):
    """Found by schemathesis: 31 digits matched the schema and were refused as malformed."""
    with pytest.raises(ValidationFailed, match="request_ttl may be at most 7d") as err:
        access_request_create(requester=requester, roles=["db-admin"], request_ttl="1" + "0" * 30)
    assert err.value.field == "request_ttl"
