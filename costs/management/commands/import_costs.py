"""``python manage.py import_costs FILE [FILE ...]``: import Cost Management exports (costs.services)."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from costs.services import ACTUAL, AMORTIZED, CostImportResult, cost_file_import


class Command(BaseCommand):
    help = (
        "Import Azure Cost Management exports: cost details (EA or MCA) or FOCUS, as CSV, .csv.gz or "
        "Parquet; the shape is read from the header. Only Azure OpenAI lines are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="FILE", help="file or directory of exports")
        parser.add_argument(
            "--dataset",
            choices=[ACTUAL, AMORTIZED],
            default=ACTUAL,
            help="what a cost details export holds (FOCUS holds both): actual cost (default) or amortized",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, paths: list[str], dataset: str, no_progress: bool, **options: Any) -> None:
        files = self._expand(paths)
        failed = 0
        for path in files:
            result = cost_file_import(path=path, dataset=dataset, progress=not no_progress)
            self._report(result)
            failed += bool(result.error)
        if failed:
            raise CommandError(f"{failed} of {len(files)} file(s) could not be read")

    def _expand(self, paths: list[str]) -> list[Path]:
        files: list[Path] = []
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                files.extend(sorted(p for p in path.rglob("*") if p.is_file()))
            elif path.is_file():
                files.append(path)
            else:
                raise CommandError(f"no such file or directory: {raw}")
        return files

    def _report(self, result: CostImportResult) -> None:
        if result.error:
            self.stderr.write(f"{result.path}: {result.error}")
            return
        self.stdout.write(
            f"{result.path} ({result.file_format}): {result.read} lines read = {result.stored} stored"
            f" + {result.updated} updated + {result.unchanged} unchanged + {result.ignored} ignored (not"
            f" Azure OpenAI) + {result.rejected} rejected; {result.lines} invoice lines"
        )
