"""Human output: aligned tables, relative and absolute times, colour only where it belongs."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from accessctl import output
from tests.accessctl.conftest import FakeTTY

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (90, "1m 30s"),
        (3600, "1h"),
        (4 * 3600, "4h"),
        (3 * 3600 + 58 * 60 + 12, "3h 58m"),
        (2 * 86400, "2d"),
        (2 * 86400 + 3 * 3600 + 5, "2d 3h"),
        (14 * 86400, "14d"),
    ],
)
def test_durations_read_like_a_person_writes_them(seconds, text):
    assert output.duration(seconds) == text


def test_duration_can_show_every_unit():
    assert output.duration(86400 + 3600 + 60 + 1, parts=4) == "1d 1h 1m 1s"


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(hours=3, minutes=58, seconds=30), "in 3h 58m"),
        (timedelta(minutes=-12), "12m ago"),
        (timedelta(days=-1, hours=-2), "1d 2h ago"),
        (timedelta(seconds=40), "in 40s"),
        (timedelta(milliseconds=300), "just now"),
    ],
)
def test_relative_times(delta, text):
    assert output.relative(NOW + delta, NOW) == text


def test_times_are_shown_absolute_in_utc_and_relative():
    assert output.when("2026-11-25T15:58:00Z", NOW) == "2026-11-25 15:58 UTC (in 3h 58m)"
    assert output.when("2026-11-25T12:48:00+01:00", NOW) == "2026-11-25 11:48 UTC (12m ago)"
    assert output.when("2026-11-25T15:58:00.123456Z", NOW).startswith("2026-11-25 15:58 UTC")
    assert output.when(None, NOW) == ""
    assert output.when("not a time", NOW) == ""


def test_table_columns_are_aligned():
    text = output.table(
        ["ID", "USER", "STATE"],
        [["1", "alice", "PENDING"], ["1234", "bob", "APPROVED"]],
        output.Style(False),
    )
    assert text.splitlines() == [
        "ID    USER   STATE",
        "1     alice  PENDING",
        "1234  bob    APPROVED",
    ]


def test_table_alignment_ignores_colour_codes():
    style = output.Style(True)
    text = output.table(
        ["STATE", "USER"], [[style.state("PENDING"), "alice"], ["DENIED", "bob"]], style
    )
    plain = [output._ANSI.sub("", line) for line in text.splitlines()]
    assert plain == ["STATE    USER", "PENDING  alice", "DENIED   bob"]
    assert "\x1b[33mPENDING\x1b[0m" in text


def test_fields_align_values_and_skip_empty_ones():
    assert output.fields([("User", "alice"), ("Roles", ""), ("Pending until", "x")]) == (
        "User:           alice\nPending until:  x"
    )


def test_truncate_keeps_one_line():
    assert output.truncate("a\nb   c", 10) == "a b c"
    assert output.truncate("abcdefghijkl", 5) == "abcd…"


def test_colour_only_on_a_terminal():
    assert output.colour_enabled(FakeTTY(), {}) is True
    assert output.colour_enabled(io.StringIO(), {}) is False


@pytest.mark.parametrize("env", [{"NO_COLOR": "1"}, {"NO_COLOR": "yes"}, {"TERM": "dumb"}])
def test_no_colour_when_asked_even_on_a_terminal(env):
    assert output.colour_enabled(FakeTTY(), env) is False


def test_empty_no_color_does_not_disable_colour():
    # no-color.org: "when present and not an empty string".
    assert output.colour_enabled(FakeTTY(), {"NO_COLOR": ""}) is True


def test_disabled_style_returns_text_unchanged():
    assert output.Style(False).state("DENIED") == "DENIED"
    assert output.Style(True).state("DENIED") == "\x1b[31mDENIED\x1b[0m"


def test_spinner_draws_only_when_enabled():
    quiet = io.StringIO()
    spinner = output.Spinner(quiet, enabled=False)
    spinner.update("waiting")
    spinner.clear()
    assert quiet.getvalue() == ""

    tty = FakeTTY()
    spinner = output.Spinner(tty, enabled=True)
    spinner.update("waiting")
    spinner.update("waiting")
    spinner.clear()
    assert tty.getvalue() == "\r⠋ waiting\x1b[K\r⠙ waiting\x1b[K\r\x1b[K"
