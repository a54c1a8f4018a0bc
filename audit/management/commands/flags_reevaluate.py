from datetime import UTC, datetime, time, timedelta
from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from audit.selectors import reevaluation_requests
from audit.services.flags import flags_reevaluate_range


def _moment(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CommandError(f"--{name} must be a date (2026-10-01) or an ISO datetime, not {value!r}") from exc
    if len(value) == 10:  # a day: midnight UTC
        moment = datetime.combine(moment.date(), time.min)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Command(BaseCommand):
    help = "Re-run flag rules and detectors over the requests of [--since, --until) (UTC)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", required=True, help="Start, inclusive: 2026-10-01 or ISO datetime")
        parser.add_argument("--until", help="End, exclusive (default: now); a bare date means its midnight")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, since: str, until: str | None, no_progress: bool, **options: Any) -> None:
        start = _moment(since, "since")
        end = _moment(until, "until") if until else datetime.now(UTC) + timedelta(seconds=1)
        if end <= start:
            raise CommandError("--until must be after --since")
        bar = tqdm(
            total=reevaluation_requests(since=start, until=end).count(),
            unit=" requests",
            desc="re-evaluating",
            disable=no_progress,
            # The stream itself: OutputWrapper would end each redraw with a newline.
            file=cast(TextIO, self.stderr._out),
        )
        try:
            stats = flags_reevaluate_range(since=start, until=end, progress=bar.update)
        finally:
            bar.close()
        self.stdout.write(
            f"requests={stats.requests} flags_created={stats.flags_created} flags_updated={stats.flags_updated} "
            f"flags_deleted={stats.flags_deleted} items_created={stats.items_created} "
            f"items_deleted={stats.items_deleted} rule_timeouts={len(stats.rule_timeouts)}"
        )
        for note in stats.notes:  # an optional detector that could not run (the others did)
            self.stderr.write(note)
