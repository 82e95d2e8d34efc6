"""Identity tests use the review desk's logged-in personas, and SCIM's live server."""

from tests.identity.scim_support import entra, okta, server  # noqa: F401 (fixtures)
from tests.requests_app.admin.conftest import root_client, staff  # noqa: F401 (fixtures)
