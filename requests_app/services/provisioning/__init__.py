"""Provisioning: access that takes effect in other systems follows the grants
(ARCHITECTURE invariant 11).

- `sync`: in the transaction of every change to grants, standing roles or targets, the
  (user, target) assignments are set to what should be, and a worker is queued after commit.
- `worker`: `provision_run` claims one assignment, calls the provisioner outside any
  transaction, and records the outcome (audited; retried with backoff; the first failure
  notifies).
- `reconcile`: the periodic comparison of every target's members with what should be.
"""

from requests_app.services.provisioning.sync import (
    on_policy_changed,
    provisioning_resync_targets,
    provisioning_sync,
)

__all__ = ["on_policy_changed", "provisioning_resync_targets", "provisioning_sync"]
