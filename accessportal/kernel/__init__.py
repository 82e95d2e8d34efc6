"""The kernel both apps build on: domain errors, the audit chain, locking and retries, and
the shared choices.

Layers point one way (ARCHITECTURE.md): surfaces (api, admin, portal, tasks, CLI) →
`requests_app` → `policies_app` → this kernel. Nothing here imports either app;
`tests/test_layers.py` checks it.
"""
