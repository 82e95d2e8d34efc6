"""`python -m bench <name> [options]`: run one benchmark; see bench/README.md.

The database is the one DATABASE_URL names (seed it first with `python -m bench seed`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

BENCHMARKS = {
    "seed": "bench.seed",
    "access": "bench.access",
    "sweep": "bench.sweep",
    "thresholds": "bench.thresholds",
    "listing": "bench.listing",
    "throughput": "bench.throughput",
    "fanout": "bench.fanout",
    "credentials": "bench.credentials",
    "provisioning": "bench.provisioning",
    "usage": "bench.usage",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("name", choices=sorted(BENCHMARKS))
    parser.add_argument("--scale", type=float, default=1.0, help="seed: 1 = the full company")
    parser.add_argument("--reset", action="store_true", help="seed: remove existing data first")
    parser.add_argument(
        "--quick", action="store_true", help="fewer iterations (a smoke run, not for figures)"
    )
    parser.add_argument(
        "--duration", type=int, default=5, help="throughput: seconds per wrk run (3 rounds)"
    )
    parser.add_argument("--rows", type=int, default=100_000, help="sweep: rows of each kind")
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from importlib import import_module

    module = import_module(BENCHMARKS[args.name])
    report = module.run(args)
    report.emit(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
