import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from usage.accounting.ptu import ptu_allocate


class Command(BaseCommand):
    help = "Share each provisioned (PTU) commitment of a month out over its requests by tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--month", required=True, help="YYYY-MM (UTC)")

    def handle(self, *args: Any, month: str, **options: Any) -> None:
        try:
            first = dt.datetime.strptime(month, "%Y-%m").date()
        except ValueError as exc:
            raise CommandError(f"--month {month!r} is not YYYY-MM") from exc
        updated = ptu_allocate(month=first)
        self.stdout.write(f"{updated} requests allocated for {first:%Y-%m}")
