"""``python manage.py import_logs PATH [PATH ...]``: import exported log files (see usage.ingestion.files)."""

import codecs
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from usage.ingestion.files import FileImportResult, logs_file_import
from usage.ingestion.store import BATCH_SIZE


class Command(BaseCommand):
    help = (
        "Import Log Analytics exports (az monitor log-analytics query -o json, portal CSV) and "
        'diagnostic-settings records (JSON lines or {"records": [...]}); the format is detected per file.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="file or directory")
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="processes storing batches side by side (default: INGEST_WORKERS, 1 unless set)",
        )
        parser.add_argument(
            "--batch-size", type=int, default=BATCH_SIZE, help=f"rows per batch (default {BATCH_SIZE})"
        )
        parser.add_argument(
            "--encoding",
            default=None,
            help="the files' encoding, any Python codec name (e.g. latin-1, cp1252); "
            "default: UTF-8, or UTF-16 when the file says so",
        )
        parser.add_argument(
            "--wait",
            type=float,
            default=60,
            help="seconds to wait for the ingestion lock if another run holds it",
        )

    def handle(
        self,
        *args: Any,
        paths: list[str],
        workers: int | None = None,
        encoding: str | None = None,
        wait: float = 60,
        batch_size: int = BATCH_SIZE,
        **options: Any,
    ) -> None:
        if encoding:
            try:
                codecs.lookup(encoding)
            except LookupError:
                raise CommandError(
                    f"unknown encoding {encoding!r} (use a Python codec name, e.g. latin-1)"
                ) from None
        failed = 0
        total = FileImportResult(path="total")
        paths = self._expand(paths)
        for number, path in enumerate(paths):
            result = logs_file_import(
                path=path, workers=workers, encoding=encoding, lock_wait=wait, batch_size=batch_size
            )
            if result.busy:
                raise CommandError(
                    f"{result.error} from {path}"
                    + (
                        f" nor from the {len(paths) - number - 1} file(s) after it"
                        if number + 1 < len(paths)
                        else ""
                    )
                    + f" (waited {wait:g} s; try again when that run has finished, or pass --wait SECONDS)"
                )
            self._report(result)
            failed += bool(result.error)
            for table, stored in result.tables.items():
                total.add(table, stored)
        if len(paths) > 1:
            self.stdout.write(f"total: {self._counts(total)}")
        if failed:
            raise CommandError(f"{failed} of {len(paths)} file(s) could not be read completely (see above)")

    @staticmethod
    def _expand(paths: list[str]) -> list[str]:
        """Directories become the files under them, in name order; everything else stays as given."""
        expanded: list[str] = []
        for path in paths:
            directory = Path(path)
            if directory.is_dir():
                expanded.extend(str(p) for p in sorted(directory.rglob("*")) if p.is_file())
            else:
                expanded.append(path)
        return expanded

    @staticmethod
    def _counts(result: FileImportResult) -> str:
        return (
            f"{result.rows_read:,} rows read, {result.stored:,} stored, "
            f"{result.duplicates:,} duplicates skipped, {result.conflicts:,} conflicts, "
            f"{result.skipped:,} skipped, {result.rejected:,} rejected"
        )

    def _report(self, result: FileImportResult) -> None:
        kind = f" ({result.format})" if result.format else ""
        if result.encoding and result.encoding != "UTF-8":
            kind = f" ({result.format}, {result.encoding})"
        self.stdout.write(f"{result.path}{kind}: {self._counts(result)}")
        for table, stored in sorted(result.tables.items()):
            self.stdout.write(
                f"  {table or '(routed to no table)'}: {stored.rows_read:,} read, {stored.stored:,} stored, "
                f"{stored.duplicates:,} duplicates, {stored.conflicts:,} conflicts, "
                f"{stored.skipped:,} skipped, {stored.rejected:,} rejected"
            )
        for category, count in result.skipped_categories.most_common():
            self.stdout.write(f"  skipped {count:,} x category {category}")
        for reason, count in result.reasons.most_common():
            self.stdout.write(f"  rejected {count:,} x {reason}")
        if result.error:
            self.stderr.write(self.style.ERROR(f"{result.path}: error: {result.error}"))
