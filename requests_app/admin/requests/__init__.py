"""Access requests in admin, one module per concern.

`queue` (the "Pending for me" queue, shown to reviewers only), `access_requests` (every
visible request and its request page with the Approve / Deny / Revoke forms), `reviews` (the
read-only list of reviews): the three register their ModelAdmins when `requests_app.admin`
imports them. `columns` holds the list columns the queue and the full list share, `bulk` the
Approve / Deny selected actions, `outcomes` the one sentence a reviewer reads after a review.
"""
