"""Signed credentials: issuance throughput against the bare view, and the cost of verifying
one locally, as a downstream service does, against a bare decode.

Issuance: `POST /api/v1/credentials/` under gunicorn with wrk (as `throughput`: three
rounds alternating with the bare DRF view, medians compared), by the seeded user with the
most grants open now (their claims are the largest), plus the service alone in-process
(p50/p99 against a primary-key select) and queries per call. Verification: PyJWT's
`jwt.decode` with signature, `exp`/`nbf`/`aud`/`iss` checks and a JWK already fetched and
parsed (what `PyJWKClient` caches), against `jwt.decode` without verification (base64 and
JSON only), alternating call by call; for EdDSA and ES256 keys alike.

Writes nothing but the signing keys it needs (kept: they are what the site signs with).
"""

from __future__ import annotations

import jwt
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count
from django.test import Client as DjangoClient
from django.utils import timezone
from rest_framework.authtoken.models import Token

from bench.common import Report, count_queries, interleaved, ratio, summary_ms
from bench.server import gunicorn, wrk_available
from bench.throughput import _lua, _median_run, balanced_wrk, run_wrk
from requests_app.credential_models import SigningKey
from requests_app.models import Grant
from requests_app.selectors.credentials import jwks
from requests_app.services.credentials import (
    credential_issue,
    signing_key_ensure,
    signing_key_rotate,
)

TARGET_ISSUANCE = 0.5  # issuance at least half of the bare view's throughput
ALGORITHMS = ["EdDSA", "ES256"]
BARE = "/api/v1/bench/bare/"
PATH = "/api/v1/credentials/"


def _subject():
    """The user with the most grants open now (seeded history), or any active user."""
    now = timezone.now()
    busiest = (
        Grant.objects.open_at(now)
        .values("user_id")
        .annotate(n=Count("id"))
        .order_by("-n", "user_id")
        .first()
    )
    User = get_user_model()
    if busiest:
        return User.objects.get(pk=busiest["user_id"]), busiest["n"]
    user = User.objects.filter(is_active=True).order_by("pk").first()
    if user is None:
        raise SystemExit("no user to issue credentials to: python -m bench seed")
    return user, 0


def _verification(user, alg: str, iterations: int) -> dict:
    """PyJWT verify with a cached key vs a bare decode, for a token signed with `alg`."""
    if SigningKey.objects.signing_at(timezone.now()).filter(alg=alg).first() is None:
        signing_key_rotate(alg=alg, immediately=True, actor="bench")
    credential = credential_issue(user=user)
    token, kid = credential.token, credential.kid
    key = next(k for k in jwt.PyJWKSet.from_dict(jwks()).keys if k.key_id == kid)
    audience, issuer = credential.claims["aud"], credential.claims["iss"]

    def verify(_):
        jwt.decode(token, key, algorithms=ALGORITHMS, audience=audience, issuer=issuer)

    def bare(_):
        jwt.decode(token, options={"verify_signature": False})

    samples = interleaved({"bare_decode": bare, "verify": verify}, iterations, warmup=50)
    out = {name: summary_ms(s) for name, s in samples.items()}
    out["ratio_p50"] = ratio(out["verify"]["p50_ms"], out["bare_decode"]["p50_ms"])
    out["token_bytes"] = len(token)
    return out


def _in_process(user, iterations: int) -> dict:
    from django.contrib.auth.models import Permission

    pk = Permission.objects.order_by("pk").values_list("pk", flat=True).first()

    def floor(_):
        Permission.objects.filter(pk=pk).first()

    samples = interleaved(
        {"pk_select": floor, "issue": lambda _: credential_issue(user=user)}, iterations
    )
    out = {name: summary_ms(s) for name, s in samples.items()}
    out["ratio_p50"] = ratio(out["issue"]["p50_ms"], out["pk_select"]["p50_ms"])
    return out


def _http(token: str, duration: int, rounds: int) -> dict:
    bare_script, issue_script = _lua(token), _lua(token, "POST", {})
    with gunicorn() as server:
        run_wrk(*server, BARE, bare_script, 2)  # warm up the workers
        pairs = [
            (
                balanced_wrk(server, lambda: (BARE, bare_script), duration),
                balanced_wrk(server, lambda: (PATH, issue_script), duration),
            )
            for _ in range(rounds)
        ]
    bare = _median_run([b for b, _ in pairs])
    issue = _median_run([e for _, e in pairs])
    return {
        "endpoint": issue,
        "bare": bare,
        "ratio": ratio(issue.get("requests_per_second", 0), bare.get("requests_per_second", 0)),
        "rounds": [
            {"bare_rps": b.get("requests_per_second"), "endpoint_rps": e.get("requests_per_second"),
             "skewed_runs_dropped": b["skewed_runs_dropped"] + e["skewed_runs_dropped"]}
            for b, e in pairs
        ],
    }  # fmt: skip


def measure(
    *, duration: int = 5, rounds: int = 3, iterations: int = 2000, http: bool = True
) -> Report:
    if http and not wrk_available():
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    if http and connection.vendor != "postgresql":
        raise SystemExit("the HTTP part needs PostgreSQL (or pass http=False)")
    user, open_grants = _subject()
    signing_key_ensure()
    token = Token.objects.get_or_create(user=user)[0].key
    client = DjangoClient(HTTP_AUTHORIZATION=f"Token {token}")

    def issue_once():
        response = client.post(PATH, {}, content_type="application/json")
        if response.status_code != 201:
            raise RuntimeError(f"{response.status_code}: {response.content[:300]!r}")

    claims = credential_issue(user=user).claims  # the signing key is opened once per process
    queries = {
        "bare": count_queries(lambda: client.get(BARE)),
        "issue": count_queries(issue_once),
    }
    in_process = _in_process(user, max(iterations // 4, 10))
    verification = {alg: _verification(user, alg, iterations) for alg in ("ES256", "EdDSA")}
    results: dict = {
        "subject": {"open_grants": open_grants, "standing_roles": len(claims["roles"])},
        "queries": queries,
        "in_process": in_process,
        "verification": verification,
    }
    if http:
        results["http"] = _http(token, duration, rounds)
    ratio_http = results.get("http", {}).get("ratio")
    results["targets"] = {
        "issuance_vs_bare": ratio_http,
        "issuance_at_least_half_of_bare": None if ratio_http is None
        else ratio_http >= TARGET_ISSUANCE,
        "all_responses_2xx": None if not http
        else results["http"]["endpoint"]["non_2xx"] == 0,
    }  # fmt: skip

    report = Report("credentials")
    report.params = {
        "duration_seconds": duration,
        "rounds": rounds,
        "verify_iterations": iterations,
        "http": http,
        "max_lifetime_seconds": claims["exp"] - claims["iat"],
    }
    report.results = results
    report.header = ["measure", "p50 ms", "p99 ms", "floor", "floor p50 ms", "ratio"]
    report.rows.append(
        ["issue (service, in-process)", in_process["issue"]["p50_ms"],
         in_process["issue"]["p99_ms"], "pk select", in_process["pk_select"]["p50_ms"],
         in_process["ratio_p50"]]
    )  # fmt: skip
    for alg, v in verification.items():
        report.rows.append(
            [f"verify {alg} (PyJWT, cached JWK)", v["verify"]["p50_ms"], v["verify"]["p99_ms"],
             "bare decode", v["bare_decode"]["p50_ms"], v["ratio_p50"]]
        )  # fmt: skip
    if http:
        h = results["http"]
        report.rows.append(
            ["POST credentials/ (req/s)", h["endpoint"].get("requests_per_second"),
             h["endpoint"].get("p99_ms"), "bare view req/s",
             h["bare"].get("requests_per_second"), h["ratio"]]
        )  # fmt: skip
        report.notes.append(
            f"target: issuance >= {TARGET_ISSUANCE:.0%} of the bare view: {h['ratio']:.0%} -> "
            f"{'met' if results['targets']['issuance_at_least_half_of_bare'] else 'MISSED'}; "
            f"queries per call: issue {queries['issue']}, bare {queries['bare']}"
        )
    report.notes.append(
        f"subject: {open_grants} open grants, {len(claims['roles'])} standing roles"
    )
    return report


def run(args) -> Report:
    quick = args.quick
    return measure(
        duration=2 if quick else args.duration,
        rounds=1 if quick else 3,
        iterations=200 if quick else 5000,
    )
