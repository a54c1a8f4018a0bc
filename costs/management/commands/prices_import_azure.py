"""``python manage.py prices_import_azure FILE [...] [--fetch]``: Azure list prices (costs.retail_prices)."""

import urllib.error
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from costs.retail_prices import RetailImport, retail_items_fetch, retail_items_read, retail_prices_import


class Command(BaseCommand):
    help = (
        "Import Azure OpenAI token prices from Azure Retail Prices API answers (saved JSON pages, or "
        "--fetch from the public API) as effective-dated prices per model, version, deployment "
        "type and region. Reprice open months afterwards for them to apply to past requests."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="*", metavar="FILE", help="saved API answer(s), JSON")
        parser.add_argument(
            "--fetch", action="store_true", help="read the live API (AZURE_RETAIL_PRICES_URL)"
        )

    def handle(self, *args: Any, paths: list[str], fetch: bool, **options: Any) -> None:
        if not paths and not fetch:
            raise CommandError("Give one or more saved JSON files, or --fetch.")
        for raw in paths:
            if not Path(raw).is_file():
                raise CommandError(f"No such file: {raw}")
            self._report(raw, retail_prices_import(items=retail_items_read(Path(raw))))
        if fetch:
            try:
                result = retail_prices_import(items=retail_items_fetch())
            except (urllib.error.URLError, TimeoutError, ValueError) as error:
                raise CommandError(f"The Retail Prices API could not be read: {error}") from None
            self._report("Retail Prices API", result)

    def _report(self, name: str, result: RetailImport) -> None:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(result.skipped.items())) or "none"
        self.stdout.write(
            f"{name}: {result.items} items; {result.created} prices created, {result.unchanged} unchanged, "
            f"{result.incomplete} without input and output prices; skipped: {skipped}"
        )
