"""What the policies tell the layers above them, without importing them.

Policies sit below requests (ARCHITECTURE.md: surfaces → requests → policies → kernel), so
a policy service cannot call the request services; it sends a signal that they receive.
Signals are sent synchronously, inside the sender's transaction: a receiver's writes commit
or roll back with the policy change.
"""

from django.dispatch import Signal

# Sent once per transaction that changed roles, their members or traits (what decides who
# may request and review), before that transaction's audit append: a receiver must finish
# its writes before the sender takes the audit chain head (accessportal/kernel/locking.py).
# `user_ids`: the users whose standing roles or traits changed (a sign-in, a directory
# push); absent when roles themselves changed (a policy apply, a role delete), after the
# sender brought every reviewer profile up to date.
# Receivers: requests_app (who may see and review each pending request).
review_rules_changed = Signal()

# Sent by `apply_policies --dry-run` with the plan's review rules and on-call schedules
# (normalized documents): `rules`, `schedules`. Each receiver returns lines to print.
# Receivers: requests_app (which recent requests each new or changed rule would have
# decided). Sent outside any transaction: a receiver may ask on-call sources over HTTP.
review_rules_preview = Signal()
