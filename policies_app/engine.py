"""Policy evaluation with Teleport's semantics, over roles held in memory.

`PolicySet` is a snapshot of every role's normalized spec; `subject()` binds it to one
user's standing roles and traits. Only *standing* roles count here: access that came from
a grant never lets anyone request or review (no recursive elevation).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from policies_app.matching import matches_any
from policies_app.predicates import parse

DEFAULT_THRESHOLD = {"name": "default", "filter": "", "approve": 1, "deny": 1}

# (the key of the roles as stored, the PolicySet parsed from them): see PolicySet.load.
_SNAPSHOT: tuple[str, PolicySet] | None = None


@dataclass(frozen=True)
class ResourceRef:
    """A resource as policies see it."""

    kind: str
    name: str
    labels: Mapping[str, str]

    @property
    def resource_id(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class RolePolicy:
    """One role's normalized spec with the questions policies ask of it."""

    name: str
    spec: Mapping[str, Any]

    @property
    def allow_request(self) -> Mapping[str, Any]:
        return self.spec.get("allow", {}).get("request", {})

    @property
    def deny_request(self) -> Mapping[str, Any]:
        return self.spec.get("deny", {}).get("request", {})

    @property
    def permissions(self) -> list[str]:
        return list(self.spec.get("allow", {}).get("permissions", []))

    @property
    def request_access(self) -> str:
        return self.spec.get("options", {}).get("request_access", "optional")

    def allows_requesting(self, role: str) -> bool:
        return matches_any(self.allow_request.get("roles", []), role)

    def denies_requesting(self, role: str) -> bool:
        return matches_any(self.deny_request.get("roles", []), role)

    def allows_searching_as(self, role: str) -> bool:
        return matches_any(self.allow_request.get("search_as_roles", []), role)

    def denies_searching_as(self, role: str) -> bool:
        return matches_any(self.deny_request.get("search_as_roles", []), role)

    def reaches(self, resource: ResourceRef) -> bool:
        """Whether holding this role reaches `resource` (kinds and every label selector)."""
        reach = self.spec.get("allow", {}).get("resources", {})
        kinds, selectors = reach.get("kinds", []), reach.get("labels", {})
        if not kinds or not selectors or not matches_any(kinds, resource.kind):
            return False
        for key, wanted in selectors.items():
            if key == "*":
                if "*" in wanted:
                    continue
                return False
            value = resource.labels.get(key)
            if value is None or not matches_any(wanted, str(value)):
                return False
        return True

    def _review_rule_matches(self, rule: Mapping[str, Any], role: str, ctx: Mapping) -> bool:
        if not self._review_rule_names(rule, role):
            return False
        where = rule.get("where", "")
        return not where or parse(where, scope="where").evaluate(ctx)

    @staticmethod
    def _review_rule_names(rule: Mapping[str, Any], role: str) -> bool:
        return matches_any(rule.get("roles", []), role)

    def may_allow_reviewing(self, role: str) -> bool:
        """`allows_reviewing` before its `where`: this role's allow rule names `role`. A
        necessary condition of reviewing it, that depends on nothing but the two names."""
        return self._review_rule_names(self.spec.get("allow", {}).get("review_requests", {}), role)

    def allows_reviewing(self, role: str, ctx: Mapping) -> bool:
        return self._review_rule_matches(
            self.spec.get("allow", {}).get("review_requests", {}), role, ctx
        )

    def denies_reviewing(self, role: str, ctx: Mapping) -> bool:
        return self._review_rule_matches(
            self.spec.get("deny", {}).get("review_requests", {}), role, ctx
        )

    @property
    def reviews_anything(self) -> bool:
        return bool(self.spec.get("allow", {}).get("review_requests", {}).get("roles"))


@dataclass
class PolicySet:
    """Every role by name; `load()` gives the roles as stored now (a cached parse)."""

    roles: dict[str, RolePolicy]
    # role requested -> names of the roles that may allow reviewing it (`reviewing_roles`)
    _reviewing: dict[str, frozenset[str]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_roles(cls, roles: Iterable[tuple[str, Mapping[str, Any]]]) -> PolicySet:
        return cls({name: RolePolicy(name, spec) for name, spec in roles})

    @staticmethod
    def version_sql() -> str | None:
        """The statement (one row, one column) whose answer `load` compares with the parsed
        set's key: PostgreSQL only (None elsewhere). The roles' permission version (scope 0
        of `kernel.models.PermissionVersion`, bumped by a trigger in the transaction of
        every role insert, delete, name or spec update: loader, admin, proposals, bulk and
        raw SQL alike) with the transaction id that wrote it (`xmin`), as
        `kernel.models.permission_version_sql` reads every version: a version written by
        a transaction that rolled back is never taken for the committed one that reuses
        its number. A caller may run it inside a statement of its own and pass the answer
        to `load(version=...)`."""
        from django.db import connection

        from accessportal.kernel.models import permission_version_sql

        if connection.vendor != "postgresql":
            return None
        return f"SELECT {permission_version_sql(connection.vendor, user=None)}"

    @classmethod
    def load(cls, *, version: str | None = None) -> PolicySet:
        """Every role as stored now.

        The parsed set is kept per process and reused while its key is unchanged. On
        PostgreSQL the key is the roles' version (`version_sql`, one indexed row: reusing
        costs nothing next to parsing 2k specs, ~60 ms, or hashing them, ~30 ms;
        bench/README.md); it is read before the roles, so a kept set is never older than
        its key. Elsewhere (SQLite) the key is a digest of every role's name and spec,
        computed here. Callers never mutate a PolicySet, so sharing one is safe.
        `version`: `version_sql`'s answer, read by the caller in a statement of its own
        (policies_app.selectors.policies_and_subject).
        """
        global _SNAPSHOT
        from django.db import connection

        from policies_app.models import Role

        table = connection.ops.quote_name(Role._meta.db_table)
        cached = _SNAPSHOT
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                if version is None:
                    cursor.execute(cls.version_sql())
                    version = cursor.fetchone()[0]
                key = f"v{version}"
                if cached is not None and cached[0] == key:
                    return cached[1]
                cursor.execute(f"SELECT name, spec::text FROM {table} ORDER BY name")
                rows = cursor.fetchall()
            else:
                cursor.execute(f"SELECT name, spec FROM {table} ORDER BY name")
                rows = cursor.fetchall()
                text = ",".join(f"{name}:{spec}" for name, spec in rows)
                key = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
                if cached is not None and cached[0] == key:
                    return cached[1]
        policies = cls.from_roles((name, json.loads(spec)) for name, spec in rows)
        _SNAPSHOT = (key, policies)
        return policies

    def reviewing_roles(self, requested: Iterable[str]) -> frozenset[str]:
        """Names of the roles whose allow `review_requests` names one of `requested`, their
        `where` aside (`RolePolicy.may_allow_reviewing`): a subject holding none of them may
        review none of those roles (`Subject.may_review_role`), so a batch may skip it
        before asking. Kept per set and role (a set never changes)."""
        found: set[str] = set()
        for role in requested:
            names = self._reviewing.get(role)
            if names is None:
                names = frozenset(n for n, r in self.roles.items() if r.may_allow_reviewing(role))
                self._reviewing[role] = names
            found |= names
        return frozenset(found)

    def subject(self, role_names: Iterable[str], traits: Mapping[str, list[str]]) -> Subject:
        held = [self.roles[name] for name in sorted(set(role_names)) if name in self.roles]
        return Subject(self, held, dict(traits or {}))


@dataclass
class Subject:
    """A user's standing roles and traits, under a PolicySet."""

    policies: PolicySet
    standing: list[RolePolicy]
    traits: dict[str, list[str]] = field(default_factory=dict)

    @property
    def role_names(self) -> list[str]:
        return [role.name for role in self.standing]

    # -- requesting roles ---------------------------------------------------------------
    def role_request_rules(self, role: str) -> list[RolePolicy]:
        """Standing roles whose allow.request matches `role`; empty when denied (deny wins)."""
        if any(r.denies_requesting(role) for r in self.standing):
            return []
        return [r for r in self.standing if r.allows_requesting(role)]

    @cached_property
    def requestable_roles(self) -> list[str]:
        held = set(self.role_names)
        return [
            name
            for name in sorted(self.policies.roles)
            if name not in held and self.role_request_rules(name)
        ]

    # -- requesting resources ------------------------------------------------------------
    @cached_property
    def search_as_roles(self) -> list[RolePolicy]:
        """Roles whose resources this subject may request: allowed by some standing role's
        search_as_roles, minus those any standing role denies, whether in
        deny.request.search_as_roles or in deny.request.roles (deny wins: a role one may
        never request is never a path to a resource either)."""
        out = []
        for name, role in sorted(self.policies.roles.items()):
            if any(r.denies_searching_as(name) or r.denies_requesting(name) for r in self.standing):
                continue
            if any(r.allows_searching_as(name) for r in self.standing):
                out.append(role)
        return out

    def resource_request_rules(self, resource: ResourceRef) -> tuple[list[RolePolicy], list[str]]:
        """(standing roles that allow requesting `resource`, search-as roles that reach it)."""
        reaching = [r.name for r in self.search_as_roles if r.reaches(resource)]
        if not reaching:
            return [], []
        rules = [r for r in self.standing if any(r.allows_searching_as(name) for name in reaching)]
        return rules, reaching

    @property
    def can_search_resources(self) -> bool:
        return bool(self.search_as_roles)

    # -- the reason rule -----------------------------------------------------------------
    def reason_rule(self, via: Iterable[str]) -> tuple[bool, str]:
        """(whether a reason is required, the prompt) for a request that goes through the
        roles `via`: the requested roles, and for a resource the search-as roles reaching it.

        Teleport's rule: required when any standing role says `request_access: reason`, or
        when a standing role whose allow.request names one of `via` (in `roles` or in
        `search_as_roles`) says `reason.mode: required`. The prompt is the first one those
        roles give. The create service and the catalog both ask this.
        """
        names = list(dict.fromkeys(via))
        allowing = [
            r
            for r in self.standing
            if any(r.allows_requesting(n) or r.allows_searching_as(n) for n in names)
        ]
        reasons = [r.allow_request.get("reason", {}) for r in allowing]
        required = any(x.get("mode") == "required" for x in reasons) or any(
            r.request_access == "reason" for r in self.standing
        )
        prompt = next((x["prompt"] for x in reasons if x.get("prompt")), "")
        return required, prompt

    # -- reviewing -----------------------------------------------------------------------
    def review_context(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return {"reviewer": {"roles": self.role_names, "traits": self.traits}, "request": request}

    def may_review_role(self, role: str, ctx: Mapping) -> bool:
        """Allowed by some standing role's review_requests (with its `where`), denied by none."""
        if any(r.denies_reviewing(role, ctx) for r in self.standing):
            return False
        return any(r.allows_reviewing(role, ctx) for r in self.standing)

    def may_review(self, review_roles: Mapping[str, list[str]], request: Mapping) -> bool:
        """`review_roles` maps each requested item to the roles behind it: a role request is
        reviewable when its role is; a resource request when any role that reaches it is."""
        if not review_roles:
            return False
        ctx = self.review_context(request)
        return all(
            any(self.may_review_role(role, ctx) for role in roles)
            for roles in review_roles.values()
        )

    @cached_property
    def review_time_bounds(self) -> list[int]:
        """The `duration(...)` seconds that `request.pending_for` is compared with in this
        subject's `review_requests` conditions (allow and deny `where`), sorted: between two
        of them a condition's answer cannot change as a request waits."""
        bounds: set[int] = set()
        for role in self.standing:
            for side in ("allow", "deny"):
                where = role.spec.get(side, {}).get("review_requests", {}).get("where", "")
                if where:
                    bounds |= parse(where, scope="where").duration_bounds()
        return sorted(bounds)

    def reviewing_role(self, review_roles: Mapping[str, list[str]], request: Mapping) -> str:
        """The first standing role, by name, whose review_requests allows reviewing one of
        the items: the role a review is counted under in the metrics ("" when none)."""
        ctx = self.review_context(request)
        wanted = {role for roles in review_roles.values() for role in roles}
        return next(
            (r.name for r in self.standing if any(r.allows_reviewing(w, ctx) for w in wanted)),
            "",
        )

    @property
    def reviews_anything(self) -> bool:
        return any(r.reviews_anything for r in self.standing)
