from django.apps import AppConfig


class CostsConfig(AppConfig):
    name = "costs"
    verbose_name = "Invoice true-up"

    def ready(self) -> None:
        # usage may not import costs: the chargeback asks for invoiced figures through this hook.
        from usage.chargeback.invoices import invoice_provider_register

        from .invoices import month_invoiced_provide

        invoice_provider_register(month_invoiced_provide)
