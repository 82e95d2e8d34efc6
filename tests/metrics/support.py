"""Reading Prometheus expositions in tests: prometheus_client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} of an exposition."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, metric: str, /, **labels: str) -> float:
    """One sample's value; 0.0 when the series is not there (a counter never incremented)."""
    return samples(text).get((metric, frozenset(labels.items())), 0.0)


def names(text: str) -> set[str]:
    """Every family and sample name exported (a histogram's base name, `_bucket`, `_sum`,
    `_count`; a counter's name with and without `_total`)."""
    found: set[str] = set()
    for family in text_string_to_metric_families(text):
        found.add(family.name)
        found |= {s.name for s in family.samples}
    return found
