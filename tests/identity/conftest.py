"""Identity tests use the review desk's logged-in personas."""

from tests.requests_app.admin.conftest import root_client, staff  # noqa: F401 (fixtures)
