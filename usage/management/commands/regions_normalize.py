from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from usage.regions.services import requests_regions_renormalize


class Command(BaseCommand):
    help = (
        "Re-derive the APIM and backend region of every stored request (Azure region names; the "
        "backend's from x-ms-region, the joined native row's location or the learned/edited "
        "backend host map; 'unknown' or 'gateway' otherwise, never a host name), then refresh the "
        "rollup hours of the requests that changed. Run it after upgrading, or after editing the "
        "backend host regions in the admin. Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=2000, help="Requests read per query.")

    def handle(self, *args: Any, batch: int, **options: Any) -> None:
        result = requests_regions_renormalize(batch=batch)
        self.stdout.write(
            f"examined {result.examined} requests; {result.changed} changed region; "
            f"{len(result.hours)} rollup hour{'s' if len(result.hours) != 1 else ''} refreshed"
        )
