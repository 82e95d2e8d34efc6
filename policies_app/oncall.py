"""Who is on call: the sources behind `oncall("schedule")` in review rules.

PagerDuty through its official client (`pagerduty`, the maintained successor of pdpyras);
Opsgenie over plain HTTP (its SDK, opsgenie-sdk, has had no release since 2021, and the
endpoint is one GET); a static list from the policy file. Each answer is the set of people
on call at an instant (lower-cased emails from PagerDuty and Opsgenie, user names from a
static list), kept in the Django cache for ONCALL_CACHE_SECONDS. A source that fails raises
OncallUnavailable (remembered for ONCALL_FAILURE_CACHE_SECONDS): the caller reads that as
"not on call" (fail closed), logs it and counts it.

Called outside any transaction (HTTP never runs under a lock).
"""

from __future__ import annotations

import hashlib
import json
import logging
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

import pagerduty
from django.conf import settings
from django.core.cache import cache

from accessportal.kernel.outbound import http_url_problem
from accessportal.metrics import observe

logger = logging.getLogger(__name__)


class OncallUnavailable(Exception):
    """The source could not say who is on call (down, an error, a timeout, no credentials)."""


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tls() -> ssl.SSLContext:
    """The system's trust store, or ONCALL_CA_FILE's (a corporate proxy, the tests)."""
    return ssl.create_default_context(cafile=settings.ONCALL_CA_FILE or None)


def _pagerduty(schedule_id: str, at: datetime) -> set[str]:
    """GET /oncalls?schedule_ids[]=..&since&until&include[]=users: the emails of the users
    on call in the schedule at `at` (any escalation level)."""
    token = settings.ONCALL_PAGERDUTY_TOKEN
    if not token:
        raise OncallUnavailable("ONCALL_PAGERDUTY_TOKEN is not set")
    try:
        client = pagerduty.RestApiV2Client(
            token, base_url=settings.ONCALL_PAGERDUTY_URL, verify=_tls()
        )
    except pagerduty.Error as err:  # e.g. a base URL that is not https://
        raise OncallUnavailable(f"PagerDuty: {err}") from err
    client.timeout = settings.ONCALL_TIMEOUT
    # No retries: a rule that cannot ask now does not fire, and the request waits for people.
    client.max_http_attempts = 0
    client.max_network_attempts = 0
    try:
        with client:
            oncalls = client.list_all(
                "oncalls",
                params={
                    "schedule_ids[]": [schedule_id],
                    "since": _iso(at),
                    "until": _iso(at + timedelta(seconds=1)),
                    "include[]": ["users"],
                },
            )
    except (pagerduty.Error, OSError) as err:
        raise OncallUnavailable(f"PagerDuty: {err}") from err
    except Exception as err:  # noqa: BLE001 - httpx's errors and malformed answers alike
        raise OncallUnavailable(f"PagerDuty: {type(err).__name__}: {err}") from err
    emails: set[str] = set()
    for oncall in oncalls:
        user = oncall.get("user") if isinstance(oncall, dict) else None
        email = user.get("email") if isinstance(user, dict) else None
        if isinstance(email, str) and email:
            emails.add(email.lower())
    return emails


def _opsgenie(schedule: str, at: datetime) -> set[str]:
    """GET /v2/schedules/{name}/on-calls?scheduleIdentifierType=name&flat=true&date=..:
    `data.onCallRecipients` are the emails of the people on call at `at`."""
    key = settings.ONCALL_OPSGENIE_KEY
    if not key:
        raise OncallUnavailable("ONCALL_OPSGENIE_KEY is not set")
    if problem := http_url_problem(settings.ONCALL_OPSGENIE_URL, https_unless_loopback=True):
        # The key travels in a header: never in clear over the network.
        raise OncallUnavailable(f"ONCALL_OPSGENIE_URL {problem}")
    query = urlencode({"scheduleIdentifierType": "name", "flat": "true", "date": _iso(at)})
    url = (
        f"{settings.ONCALL_OPSGENIE_URL.rstrip('/')}/v2/schedules/{quote(schedule, safe='')}"
        f"/on-calls?{query}"
    )
    request = urllib.request.Request(url, headers={"Authorization": f"GenieKey {key}"})
    try:
        with urllib.request.urlopen(  # noqa: S310 - an https URL from settings
            request, timeout=settings.ONCALL_TIMEOUT, context=_tls()
        ) as response:
            body = json.loads(response.read(1024 * 1024))
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise OncallUnavailable(f"Opsgenie: {err}") from err
    data = body.get("data") if isinstance(body, dict) else None
    recipients = data.get("onCallRecipients") if isinstance(data, dict) else None
    if not isinstance(recipients, list):
        raise OncallUnavailable("Opsgenie: the answer has no data.onCallRecipients")
    return {r.lower() for r in recipients if isinstance(r, str) and r}


def _source(spec: dict) -> str:
    return next(iter(spec), "none")


@dataclass(frozen=True)
class OncallPeople:
    """Who is on call: user names (a static list names accounts) or emails (PagerDuty and
    Opsgenie name people by email), lower-cased. Never both for one schedule."""

    usernames: frozenset[str] = frozenset()
    emails: frozenset[str] = frozenset()


def oncall_people(spec: dict, at: datetime) -> OncallPeople:
    """Who is on call at `at` in the schedule `spec` (a normalized oncall_schedule spec).
    Raises OncallUnavailable; a failure is remembered for ONCALL_FAILURE_CACHE_SECONDS so an
    outage costs one timeout, not one per request."""
    if "static" in spec:
        return OncallPeople(usernames=frozenset(p.lower() for p in spec["static"]))
    source = _source(spec)
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    bucket = int(at.timestamp()) // max(1, settings.ONCALL_CACHE_SECONDS)
    key, failed_key = f"oncall:{digest}:{bucket}", f"oncall:{digest}:failed"
    cached = cache.get(key)
    if cached is not None:
        return OncallPeople(emails=frozenset(cached))
    if (failure := cache.get(failed_key)) is not None:
        observe.oncall_looked_up(source, ok=False)
        raise OncallUnavailable(f"{failure} (remembered; asked again after a short pause)")
    try:
        if source == "pagerduty":
            people = _pagerduty(spec["pagerduty"]["schedule_id"], at)
        elif source == "opsgenie":
            people = _opsgenie(spec["opsgenie"]["schedule"], at)
        else:
            raise OncallUnavailable(f"unknown on-call source {source!r}")
    except OncallUnavailable as err:
        observe.oncall_looked_up(source, ok=False)
        if settings.ONCALL_FAILURE_CACHE_SECONDS > 0:
            cache.set(failed_key, str(err)[:300], settings.ONCALL_FAILURE_CACHE_SECONDS)
        raise
    observe.oncall_looked_up(source, ok=True)
    cache.set(key, sorted(people), settings.ONCALL_CACHE_SECONDS)
    return OncallPeople(emails=frozenset(people))
