"""``python manage.py ingest [--since ... --until ...] [--table ...]``: pull from Log Analytics.

Without ``--since`` it runs the regular incremental pull (from each table's watermark); with it, a
backfill of ``[since, until)``. A progress bar shows the time covered per table. With
``--parallel`` the range is split into windows that the Celery workers take (``backfill.py``);
the command waits for them and reports as the single-process pull does.
"""

import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from usage.ingestion.backfill import backfill_progress, backfill_spans, backfill_start, backfill_tables
from usage.ingestion.log_analytics import NotConfigured, log_analytics_pull, pull_span
from usage.ingestion.log_analytics_query import TABLES
from usage.models import IngestionBackfill


def _moment(value: str) -> datetime:
    """ISO date or datetime (UTC unless an offset is given), or ``7d`` / ``12h`` / ``30m`` ago."""
    text = value.strip()
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if text[:-1].isdigit() and text[-1:] in units:
        return timezone.now() - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CommandError(f"{value!r} is not a date, a datetime or an age like 7d") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Pull APIM and Azure OpenAI logs from Log Analytics (incremental, or a backfill with --since)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=_moment, help="backfill start (ISO date/datetime, or 7d/12h ago)")
        parser.add_argument("--until", type=_moment, help="backfill end, exclusive (default: now - delay)")
        parser.add_argument(
            "--table", action="append", choices=list(TABLES), help="only this table (repeatable)"
        )
        parser.add_argument("--wait", type=float, default=60, help="seconds to wait for a busy table lock")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="processes storing a window's batches side by side (default: INGEST_WORKERS, 1 unless set)",
        )
        parser.add_argument(
            "--parallel",
            action="store_true",
            help="split the range into windows that every Celery worker takes (needs CELERY_BROKER_URL)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        since, until = options["since"], options["until"]
        if until and not since:
            raise CommandError("--until needs --since")
        if since and until and since >= until:
            raise CommandError("--since must be before --until")
        tables = options["table"] or list(TABLES)
        now = timezone.now()
        if options["parallel"]:
            self._parallel(tables=tables, since=since, until=until, now=now, options=options)
            return
        total = 0.0
        for table in tables:
            start, end = pull_span(table=table, since=since, until=until, now=now)
            total += max((end - start).total_seconds(), 0)
        bar = tqdm(
            total=round(total / 3600, 2),
            unit="h",
            desc="pulling",
            disable=options["no_progress"],
            file=sys.stderr,
            bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} h of logs [{elapsed}<{remaining}]",
        )

        def progress(table: str, covered: timedelta) -> None:
            bar.set_postfix_str(table)
            bar.update(round(covered.total_seconds() / 3600, 4))

        try:
            result = log_analytics_pull(
                tables=tables,
                since=since,
                until=until,
                now=now,
                lock_wait=options["wait"],
                progress=progress,
                workers=options["workers"],
            )
        except NotConfigured as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        busy = [outcome for outcome in result.tables if outcome.busy]
        if busy:
            holder = f" ({busy[0].busy_holder})" if busy[0].busy_holder else ""
            raise CommandError(
                f"nothing done: another ingestion run{holder} holds the ingestion lock and did not free "
                f"it within --wait {options['wait']:g} s; try again when it has finished (a run that "
                "died frees it within INGEST_LEASE_SECONDS)"
            )
        for outcome in result.tables:
            mark = f"{outcome.watermark:%Y-%m-%d %H:%M:%S} UTC" if outcome.watermark else "not set"
            self.stdout.write(
                f"{outcome.table}: {outcome.windows} windows ({outcome.splits} split), "
                f"{outcome.rows_read} rows read, {outcome.stored} stored, "
                f"{outcome.duplicates} duplicates skipped, {outcome.conflicts} conflicts, "
                f"{outcome.skipped} skipped, {outcome.rejected} rejected; watermark {mark}"
            )
            if outcome.error:
                self.stderr.write(f"{outcome.table}: FAILED: {outcome.error}")
        if not result.ok:
            raise CommandError("some tables failed; their watermark stays before the failed window")

    def _parallel(
        self,
        *,
        tables: list[str],
        since: datetime | None,
        until: datetime | None,
        now: datetime,
        options: dict[str, Any],
    ) -> None:
        from django.conf import settings

        if not settings.LOG_ANALYTICS_WORKSPACE_ID:
            raise CommandError("LOG_ANALYTICS_WORKSPACE_ID is not set: nothing to pull from")
        if settings.CELERY_TASK_ALWAYS_EAGER:
            self.stderr.write("no CELERY_BROKER_URL: the windows run here, one after the other")
        spans = backfill_spans(tables=tables, since=since, until=until, now=now)
        backfill = backfill_start(spans=spans, lock_wait=options["wait"])
        if backfill is None:
            raise CommandError(
                f"nothing done: another ingestion run holds the ingestion lock and did not free it within "
                f"--wait {options['wait']:g} s; try again when it has finished"
            )
        self._backfill_wait(backfill=backfill, quiet=options["no_progress"])
        failed = False
        for table in backfill_tables(backfill=backfill):
            counts = table.counts
            mark = f"{table.watermark:%Y-%m-%d %H:%M:%S} UTC" if table.watermark else "not set"
            self.stdout.write(
                f"{table.table}: {table.ok} of {table.windows} windows, {counts['rows_read']} rows read, "
                f"{counts['rows_stored']} stored, {counts['duplicates']} duplicates skipped, "
                f"{counts['conflicts']} conflicts, {counts['skipped']} skipped, {counts['rejected']} rejected; "
                f"watermark {mark}"
            )
            for error in table.errors:
                failed = True
                self.stderr.write(f"{table.table}: FAILED: {error}")
        if failed:
            raise CommandError("some windows failed; their table's watermark stays before the first of them")

    def _backfill_wait(self, *, backfill: IngestionBackfill, quiet: bool) -> None:
        """Until every window has ended (the windows stay queued if this is interrupted)."""
        ended, total, finished = backfill_progress(backfill_id=backfill.pk)
        self.stderr.write(f"backfill {backfill.pk}: {total} windows queued for the Celery workers")
        bar = tqdm(total=total, unit="window", desc="windows", disable=quiet, file=sys.stderr)
        try:
            while not finished:
                bar.update(ended - bar.n)
                time.sleep(1)
                ended, total, finished = backfill_progress(backfill_id=backfill.pk)
            bar.update(ended - bar.n)
        finally:
            bar.close()
