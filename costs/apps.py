from typing import Any

from django.apps import AppConfig


def _demo_costs(**kwargs: Any) -> list[str]:
    from .demo import demo_costs_import  # only the demo needs it

    return demo_costs_import(**kwargs)


class CostsConfig(AppConfig):
    name = "costs"
    verbose_name = "Invoice true-up"

    def ready(self) -> None:
        # usage may not import costs: the chargeback asks for invoiced figures through this hook,
        # and the demo imports a cost export of its own traffic through the other.
        from usage.chargeback.invoices import invoice_provider_register
        from usage.demo.hooks import demo_step_register

        from .invoices import month_invoiced_provide

        invoice_provider_register(month_invoiced_provide)
        demo_step_register(_demo_costs)
