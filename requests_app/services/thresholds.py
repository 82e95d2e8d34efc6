"""Threshold sets and their tally, as Teleport defines them (pure functions, no database).

A request's snapshot holds a list of distinct thresholds and, per requested item, a list of
*sets* of indexes into it (one set per standing role that allowed the item). A review
counts toward every threshold whose filter matches it. The request is DENIED as soon as any
threshold's deny count is reached; it is APPROVED when every set of every item has a
threshold whose approve count is reached. A count of 0 never fires.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from accessportal.kernel.choices import ReviewState
from policies_app.engine import DEFAULT_THRESHOLD
from policies_app.predicates import parse


class ThresholdBook:
    """Collects distinct thresholds and the per-item sets that point into them."""

    def __init__(self) -> None:
        self.thresholds: list[dict] = []
        self.sets: dict[str, list[list[int]]] = {}
        self._index: dict[tuple, int] = {}

    def _add(self, threshold: Mapping[str, Any]) -> int:
        t = {
            "name": threshold.get("name", ""),
            "filter": threshold.get("filter", ""),
            "approve": int(threshold.get("approve", 0)),
            "deny": int(threshold.get("deny", 0)),
        }
        key = (t["name"], t["filter"], t["approve"], t["deny"])
        if key not in self._index:
            self._index[key] = len(self.thresholds)
            self.thresholds.append(t)
        return self._index[key]

    def add_set(self, item: str, thresholds: Sequence[Mapping[str, Any]]) -> None:
        """One rule's thresholds for `item`; an empty list means the default 1/1."""
        indexes = sorted({self._add(t) for t in (thresholds or [DEFAULT_THRESHOLD])})
        item_sets = self.sets.setdefault(item, [])
        if indexes not in item_sets:
            item_sets.append(indexes)


def matching_thresholds(thresholds: Sequence[Mapping[str, Any]], ctx: Mapping) -> list[int]:
    """Indexes of the thresholds whose filter matches a review in `ctx`."""
    return [
        i
        for i, t in enumerate(thresholds)
        if not t.get("filter") or parse(t["filter"], scope="filter").evaluate(ctx)
    ]


def _counts(reviews: Iterable[Any]) -> tuple[Counter, Counter]:
    """Approvals and denials per threshold; a voided review (its reviewer was deprovisioned
    while the request was pending) counts toward nothing."""
    approvals: Counter = Counter()
    denials: Counter = Counter()
    for review in reviews:
        if getattr(review, "voided_at", None) is not None:
            continue
        counter = approvals if review.state == ReviewState.APPROVED else denials
        counter.update(review.threshold_indexes)
    return approvals, denials


def tally(policy: Mapping[str, Any], reviews: Iterable[Any]) -> str | None:
    """ReviewState.DENIED, ReviewState.APPROVED, or None while undecided."""
    thresholds = policy.get("thresholds", [])
    approvals, denials = _counts(reviews)
    for i, t in enumerate(thresholds):
        if t["deny"] > 0 and denials[i] >= t["deny"]:
            return ReviewState.DENIED
    sets_by_item = policy.get("sets", {})
    if not sets_by_item:
        return None
    for sets in sets_by_item.values():
        for indexes in sets:
            if not any(
                thresholds[i]["approve"] > 0 and approvals[i] >= thresholds[i]["approve"]
                for i in indexes
            ):
                return None
    return ReviewState.APPROVED


def progress(policy: Mapping[str, Any], reviews: Iterable[Any]) -> list[dict]:
    """Each threshold with its counts so far, for people ("uprising: 1 of 2 approvals")."""
    approvals, denials = _counts(reviews)
    return [
        {**t, "approvals": approvals[i], "denials": denials[i]}
        for i, t in enumerate(policy.get("thresholds", []))
    ]
