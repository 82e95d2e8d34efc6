from django.apps import AppConfig
from django.apps import apps as global_apps
from django.db.models.signals import post_migrate


def ensure_audit_chain_head(sender, using, apps=None, **kwargs) -> None:
    """The audit chain's head row (made by migration 0002) exists after every migrate and
    every flush: `flush` (as transactional tests and live-server tests run it) empties all
    tables and then sends post_migrate, and nothing can be audited without the head."""
    try:
        # `migrate` passes its model state; `flush` passes none, so use the live models.
        head = (apps or global_apps).get_model("requests_app", "AuditChainHead")
    except LookupError:  # migrated back past the model
        return
    head.objects.using(using).get_or_create(pk=1, defaults={"seq": 0, "hash": "0" * 64})


class RequestsAppConfig(AppConfig):
    name = "requests_app"
    verbose_name = "Access requests"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A framework hook, not domain flow (STYLE.md): see ensure_audit_chain_head.
        post_migrate.connect(ensure_audit_chain_head, sender=self)
