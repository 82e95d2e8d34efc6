"""Health and readiness endpoints for probes (README "Health and readiness",
docs/operations.md): `/healthz` (the process is up) and `/readyz` (it can do its work)."""
