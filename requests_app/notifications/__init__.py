"""Turning outbox messages into emails, Slack messages and signed webhooks.

Reads and remote calls only: delivery state is written by `requests_app.services.notifications`.
"""
