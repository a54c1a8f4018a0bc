from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"

    def ready(self) -> None:
        # usage sits below this app and cannot call it: it runs what the app registers here.
        from usage.ingestion.hooks import request_hook_register
        from usage.retention import request_retention_hook_register

        from .services.flags import flags_evaluate
        from .services.retention import request_retention_held, request_retention_purge

        request_hook_register(flags_evaluate)  # requests are flagged as ingestion writes them
        request_retention_hook_register(held=request_retention_held, purge=request_retention_purge)
