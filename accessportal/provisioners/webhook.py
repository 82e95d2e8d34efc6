"""A company's own endpoint: a signed HTTP POST per change, which the endpoint must
acknowledge (docs/provisioning.md, "Webhook provisioner").

Target settings:
    url         https://..., or http:// only to a loopback address; never a link-local,
                metadata or unspecified address (169.254.169.254, fe80::, fd00:ec2::254,
                100.100.100.200, 0.0.0.0), named or resolved; reached directly (no proxy)
    secret_env  the environment variable holding the HMAC key (signed like notification
                webhooks: accessportal/kernel/signing.py)
    account     the account name, a template: "{username}" (default), "{email_local}"
    timeout     seconds the endpoint has to answer (connecting included)
    unmanaged_members  accounts the portal leaves alone and never reports as members
    anything else (`group: admins`) is passed through to the endpoint in `target`.

The request body is JSON {"action": "grant"|"revoke"|"members", "account", "target" (the
settings without `*_env` keys), "id" (a new uuid per call), "sent_at"}; the endpoint
acknowledges with a 2xx answer and JSON {"ok": true}, or {"members": [...]} for `members`.
"""

from __future__ import annotations

import json
import urllib.error
import uuid
from datetime import UTC, datetime

from accessportal.kernel import outbound, signing
from accessportal.provisioners.base import (
    SECRET_SUFFIX,
    Principal,
    ProvisionError,
    Target,
    redact,
    secret_env,
    target_timeout,
)
from accessportal.provisioners.common import (
    account_name,
    env_problem,
    template_problem,
    timeout_problem,
    unmanaged_members,
    unmanaged_problem,
)

DEFAULT_ACCOUNT = "{username}"
USER_AGENT = "AccessPortal-Provisioner/1"
MEMBERS_LIMIT = 16 * 1024 * 1024  # bytes of a members list read at most
EXCERPT = 200  # characters of a refusing answer kept in the error
# Settings that say how to call, not what the endpoint manages (left out of `identity`).
_CALL_SETTINGS = {"timeout", "account", "unmanaged_members"}
# Answers worth retrying among the 4xx; any other 4xx means the request itself is wrong.
_RETRYABLE_4XX = {408, 429}


def _excerpt(raw: bytes, target: Target) -> str:
    text = " ".join(raw.decode("utf-8", "replace").split())
    text = redact(text, target)
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "..."


class WebhookProvisioner:
    """Membership kept by a company's own service, told of each change over HTTP."""

    def check(self, target: Target) -> list[str]:
        problems = []
        problem = outbound.http_url_problem(target.get("url"), https_unless_loopback=True)
        if problem:
            problems.append(f"url {problem}")
        problems.append(env_problem(target, "secret_env", "the HMAC signing key"))
        problems.append(template_problem(target.get("account", DEFAULT_ACCOUNT), "account"))
        problems.append(timeout_problem(target))
        problems.append(unmanaged_problem(target))
        for key in sorted(target):
            if key.endswith(SECRET_SUFFIX) and key != "secret_env":
                problems.append(f"{key} is not used by the webhook provisioner")
        try:
            json.dumps(dict(target))
        except (TypeError, ValueError):
            problems.append("every setting must be plain JSON (text, numbers, lists, mappings)")
        return [p for p in problems if p]

    def identity(self, target: Target) -> dict:
        """The url and the settings that name what the endpoint manages (`group: admins`);
        not the timeout, account template, secret or unmanaged_members."""
        return {
            k: v
            for k, v in target.items()
            if k not in _CALL_SETTINGS and not k.endswith(SECRET_SUFFIX)
        }

    def describe(self, target: Target) -> str:
        extra = {k: v for k, v in self.identity(target).items() if k != "url"}
        detail = ", ".join(f"{k}={v}" for k, v in sorted(extra.items()))
        return f"webhook {target.get('url')}" + (f" ({detail})" if detail else "")

    def account(self, user: Principal, target: Target) -> str:
        return account_name(user, target.get("account", DEFAULT_ACCOUNT))

    def grant(self, account: str, target: Target) -> None:
        self._acknowledged(self._call("grant", account, target), target)

    def revoke(self, account: str, target: Target) -> None:
        self._acknowledged(self._call("revoke", account, target), target)

    def members(self, target: Target) -> set[str]:
        answer = self._call("members", None, target, limit=MEMBERS_LIMIT)
        members = answer.get("members") if isinstance(answer, dict) else None
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise ProvisionError(
                f"{self.describe(target)} did not list its members: the answer must be JSON "
                '{"members": ["name", ...]}'
            )
        return set(members) - unmanaged_members(target)

    def probe(self, target: Target) -> None:
        """Asks for the members: the one call that changes nothing."""
        self.members(target)

    def _acknowledged(self, answer: object, target: Target) -> None:
        if isinstance(answer, dict) and answer.get("ok") is True:
            return
        said = answer.get("error") if isinstance(answer, dict) else None
        reason = f": {_excerpt(str(said).encode(), target)}" if said else ""
        retry = not (isinstance(answer, dict) and answer.get("retry") is False)
        raise ProvisionError(
            f'{self.describe(target)} did not acknowledge (expected {{"ok": true}}){reason}',
            retry=retry,
        )

    def _call(
        self, action: str, account: str | None, target: Target, *, limit: int = 65536
    ) -> object:
        """POST one signed request; the answer's JSON, or ProvisionError."""
        secret = secret_env(target, "secret_env")
        call_id = str(uuid.uuid4())
        body = json.dumps(
            {
                "action": action,
                "account": account,
                "target": {k: v for k, v in target.items() if not k.endswith(SECRET_SUFFIX)},
                "id": call_id,
                "sent_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            },
            sort_keys=True,
        ).encode()
        headers = signing.webhook_headers(
            secret, body, event=f"provision.{action}", delivery=call_id
        )
        seconds = target_timeout(target)
        where = self.describe(target)
        try:
            answer = outbound.http_post(
                target["url"],
                body,
                {"User-Agent": USER_AGENT, **headers},
                timeout=seconds,
                limit=limit,
            )
        except TimeoutError:
            raise ProvisionError(f"{where} did not answer within {seconds:g}s") from None
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            if isinstance(reason, TimeoutError):
                raise ProvisionError(f"{where} did not answer within {seconds:g}s") from None
            raise ProvisionError(
                f"could not reach {where}: {redact(str(reason), target)}"
            ) from None
        status, raw = answer.status, answer.body
        if not 200 <= status < 300:
            excerpt = _excerpt(raw[: EXCERPT * 4], target)
            retry = status >= 500 or status in _RETRYABLE_4XX
            said = f": {excerpt}" if excerpt else f" {answer.reason}"
            raise ProvisionError(f"{where} refused: HTTP {status}{said}", retry=retry)
        try:
            return json.loads(raw)
        except ValueError:
            raise ProvisionError(
                f"{where} answered HTTP {status} without JSON: {_excerpt(raw, target)}"
            ) from None
