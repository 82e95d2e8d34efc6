"""How much of the sweeps' time is their per-row audit events and notifications.

Runs `bench.sweep.measure` (100k rows each, its own floor each run) alternately as shipped
and with `audit_record_many` and `outbox_enqueue_many` replaced by no-ops in the two sweep
services (the events and notices are still built, not written). An experiment only: the
services never run without them. Prints one JSON line per run.

    DATABASE_URL=postgres://.../ap_bench python -m bench.experiments.sweep_parts with without
"""

from __future__ import annotations

import json
import os
import sys

import django

LABELS = ("with", "without")


def main(labels: list[str]) -> list[dict]:
    """Run the sweep benchmark once per label ("with": as shipped; "without": no audit
    append or notification write) in Django already set up; returns the runs."""
    unknown = set(labels) - set(LABELS)
    if unknown:
        raise SystemExit(f"unknown run label(s) {sorted(unknown)}: use {' or '.join(LABELS)}")
    from bench import sweep
    from requests_app.services import grants, resolution

    rows = int(os.environ.get("ROWS", "100000"))
    real = {m: (m.audit_record_many, m.outbox_enqueue_many) for m in (grants, resolution)}
    fields = ("rows", "floor_seconds", "service_seconds", "ratio")
    runs = []
    try:
        for label in labels:
            for module, (audit, outbox) in real.items():
                off = label == "without"
                module.audit_record_many = (lambda *a, **k: None) if off else audit
                module.outbox_enqueue_many = (lambda *a, **k: None) if off else outbox
            r = sweep.measure(rows=rows).results
            run = {
                "run": label,
                **{k: {f: r[k][f] for f in fields} for k in ("grants", "requests")},
                "audit_events": r["audit_events_written"],
                "notifications": r["outbox_messages_written"],
            }
            print(json.dumps(run), flush=True)
            runs.append(run)
    finally:
        for module, (audit, outbox) in real.items():
            module.audit_record_many, module.outbox_enqueue_many = audit, outbox
    return runs


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    main(sys.argv[1:] or list(LABELS))
