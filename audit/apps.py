from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"

    def ready(self) -> None:
        from usage.ingestion.hooks import request_hook_register

        from .services import flags_evaluate

        # Requests are flagged as ingestion writes them; usage cannot import the review app.
        request_hook_register(flags_evaluate)
