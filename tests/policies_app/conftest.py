"""The admin tests of policies use the review desk's logged-in personas."""

from tests.requests_app.admin.conftest import (  # noqa: F401 (fixtures)
    login,
    make_request,
    root_client,
    staff,
)
