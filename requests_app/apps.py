from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RequestsAppConfig(AppConfig):
    name = "requests_app"
    verbose_name = "Access requests"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from policies_app.signals import review_rules_changed
        from requests_app.services.visibility import on_review_rules_changed

        # A policy change recomputes who may see and review every pending request, in the
        # policy change's own transaction (policies cannot call up into requests).
        review_rules_changed.connect(on_review_rules_changed, dispatch_uid="requests_resync")
        # And who should be a member of each provisioning target (standing roles, targets).
        from requests_app.services.provisioning import on_policy_changed

        review_rules_changed.connect(on_policy_changed, dispatch_uid="provisioning_resync")
        # `apply_policies --dry-run` shows what new review rules would have decided: the
        # requests are this layer's to read.
        from policies_app.signals import review_rules_preview
        from requests_app.services.review_rules import on_review_rules_preview

        review_rules_preview.connect(on_review_rules_preview, dispatch_uid="review_rules_preview")
        # SQLite drops a table's triggers when a migration rebuilds the table (AlterField
        # and the like): the permission-version triggers are put back after every migrate.
        from requests_app.permission_version_triggers import permission_version_triggers_ensure

        post_migrate.connect(
            permission_version_triggers_ensure, sender=self, dispatch_uid="pv_triggers"
        )
