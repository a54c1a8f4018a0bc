"""``python manage.py ingest [--since ... --until ...] [--table ...]``: pull from Log Analytics.

Without ``--since`` it runs the regular incremental pull (from each table's watermark); with it, a
backfill of ``[since, until)``. A progress bar shows the time covered per table.
"""

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from usage.ingestion.log_analytics import TABLES, NotConfigured, log_analytics_pull, pull_span


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

    def handle(self, *args: Any, **options: Any) -> None:
        since, until = options["since"], options["until"]
        if until and not since:
            raise CommandError("--until needs --since")
        if since and until and since >= until:
            raise CommandError("--since must be before --until")
        tables = options["table"] or list(TABLES)
        now = timezone.now()
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
