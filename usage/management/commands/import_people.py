"""``python manage.py import_people FILE``: the People table from a CSV file (usage.people.csv_import)."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from usage.people.csv_import import COLUMNS, people_csv_import_path


class Command(BaseCommand):
    help = (
        f"Import people (object id -> name) from a UTF-8 CSV file with the columns {', '.join(COLUMNS)} "
        "(cost_center is a cost center code), with or without a header line. Bad lines are reported "
        "and skipped; importing the same file again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", metavar="FILE")

    def handle(self, *args: Any, path: str, **options: Any) -> None:
        file = Path(path)
        if not file.is_file():
            raise CommandError(f"no such file: {path}")
        result = people_csv_import_path(path=file)
        for number, reason in result.bad_lines:
            self.stderr.write(f"{file}:{number}: {reason}")
        if result.bad > len(result.bad_lines):
            self.stderr.write(f"... and {result.bad - len(result.bad_lines)} more bad lines")
        if result.ignored_columns:
            self.stderr.write(f"columns ignored: {', '.join(result.ignored_columns)}")
        self.stdout.write(f"{file}: {result.summary()}")
