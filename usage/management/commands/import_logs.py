"""``python manage.py import_logs PATH [PATH ...]``: import exported log files (see usage.ingestion.files)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from usage.ingestion.files import FileImportResult, logs_file_import


class Command(BaseCommand):
    help = (
        "Import Log Analytics exports (az monitor log-analytics query -o json, portal CSV) and "
        'diagnostic-settings records (JSON lines or {"records": [...]}); the format is detected per file.'
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="file or directory")
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="processes storing batches side by side (default: INGEST_WORKERS, 1 unless set)",
        )

    def handle(self, *args, paths: list[str], workers: int | None = None, **options) -> None:
        failed = 0
        total = FileImportResult(path="total")
        paths = self._expand(paths)
        for path in paths:
            result = logs_file_import(path=path, workers=workers)
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
        expanded = []
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
