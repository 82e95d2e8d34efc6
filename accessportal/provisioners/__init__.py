"""Provisioners: how access approved here takes effect in another system.

A provisioner puts an account into a target (a PostgreSQL role, an LDAP group, a company's
own endpoint) and takes it out again. Each is a class registered under the entry-point
group `accessportal.provisioners`, so a company can add its own in an installed package
without forking (docs/provisioning.md, "Writing a provisioner"):

    [project.entry-points."accessportal.provisioners"]
    vault = "acme_portal.vault:VaultProvisioner"

The engine (requests_app/services/provisioning) decides *what should be* from grants and
standing roles and calls the provisioner from workers, after commit, outside any
transaction, never twice at once for one account and target; the reconciler compares
`members(target)` with what should be. This package imports neither app: a provisioner
sees account names and target settings, nothing else of the portal.
"""

from accessportal.provisioners.base import (
    ENTRY_POINT_GROUP,
    Principal,
    Provisioner,
    ProvisionError,
    provisioner_get,
    provisioner_names,
    redact,
    secret_values,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Principal",
    "ProvisionError",
    "Provisioner",
    "provisioner_get",
    "provisioner_names",
    "redact",
    "secret_values",
]
