"""Django admin for requests_app: the reviewers' desk.

One small module per concern, each registering its ModelAdmins when imported here:
`requests/` (a package: `queue`, the "Pending for me" queue; `access_requests`, every visible
request and the request page; `reviews`),
`grants` (active and past access, revoke), `break_glass` (the ratification queue),
`access_reviews` (review definitions, runs and their reports, the item queue),
`audit` (the read-only audit log), `accounts`
(Django's User and Group admin, every privilege change audited), `signing_keys` (the
credential signing keys, read-only), `denied` (the 403 page inside /admin/, wired as
handler403 in accessportal/urls.py). Other
concerns (e.g. the notification outbox) add their own module and import it below.
"""

from django.contrib import admin

from requests_app.admin import (  # noqa: F401 (registers admins)
    access_reviews,
    accounts,
    audit,
    break_glass,
    grants,
    outbox,
    provisioning,
    signing_keys,
)
from requests_app.admin.requests import (  # noqa: F401 (registers admins)
    access_requests,
    queue,
    reviews,
)

admin.site.site_header = "Access Portal"
admin.site.site_title = "Access Portal"
admin.site.index_title = "Review desk"
