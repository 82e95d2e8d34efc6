"""/scim/v2/ServiceProviderConfig: what this service provider supports, truthfully."""

from __future__ import annotations

from django_scim.models import SCIMServiceProviderConfig


class ServiceProviderConfig(SCIMServiceProviderConfig):
    def to_dict(self) -> dict:
        d = super().to_dict()
        d["filter"] = {"supported": True, "maxResults": 50}
        d["changePassword"] = {"supported": False}  # accounts sign in through the provider
        d["documentationUri"] = None
        return d
