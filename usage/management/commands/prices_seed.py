from typing import Any

from django.core.management.base import BaseCommand

from usage.accounting.price_defaults import genai_price_rows, prices_seed


class Command(BaseCommand):
    help = "Write the default model prices from the pinned genai-prices package (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        created = prices_seed()
        self.stdout.write(f"{created} price rows created, {len(genai_price_rows())} default rows in total")
