"""``python manage.py export_focus --month YYYY-MM [--format csv|parquet] [--output FILE]``:
a month's chargeback as a FOCUS dataset (costs.focus)."""

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from aoai_portal import months, params
from costs.focus import focus_csv, focus_filename, focus_parquet, month_focus_rows
from usage.chargeback.scope import EVERY_COST_CENTER


class Command(BaseCommand):
    help = (
        "Write a month's chargeback as FOCUS CSV or Parquet (one row per subscription, model and token kind)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--month", required=True, help="YYYY-MM (UTC month)")
        parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
        parser.add_argument(
            "--output", help="file to write ('-' = standard output, CSV only); default: its name"
        )

    def handle(self, *args: Any, month: str, format: str, output: str | None, **options: Any) -> None:
        try:
            first = months.month_parse(month)
        except params.ParamError as error:
            raise CommandError(str(error)) from None
        rows = month_focus_rows(month=first, scope=EVERY_COST_CENTER)
        if output == "-":
            if format != "csv":
                raise CommandError("Parquet cannot go to standard output; give --output FILE.")
            sys.stdout.write(focus_csv(rows))
            return
        path = Path(output or focus_filename(month=first, extension=format))
        if format == "csv":
            path.write_text(focus_csv(rows), encoding="utf-8")
        else:
            path.write_bytes(focus_parquet(rows))
        self.stdout.write(f"{len(rows)} rows written to {path}")
