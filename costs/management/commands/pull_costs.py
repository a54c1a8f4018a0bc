"""``python manage.py pull_costs [--since DAY] [--until DAY]``: pull invoice lines from Cost Management."""

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from costs.pull import NotConfigured, cost_pull
from costs.services import ACTUAL, AMORTIZED


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a day (YYYY-MM-DD): {value!r}") from None


class Command(BaseCommand):
    help = (
        "Pull Azure OpenAI invoice lines from the Cost Management Query API (COST_MANAGEMENT_SCOPE), "
        "daily, actual and amortized, and store them like import_costs. Without --since: the last "
        "COST_PULL_LOOKBACK_DAYS days."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=_day, help="first day (UTC, YYYY-MM-DD)")
        parser.add_argument("--until", type=_day, help="last day, included (default: today)")
        parser.add_argument(
            "--dataset", choices=[ACTUAL, AMORTIZED, "both"], default="both", help="default: both"
        )
        parser.add_argument(
            "--wait", type=float, default=60.0, help="seconds to wait for a running pull (default 60)"
        )

    def handle(
        self,
        *args: Any,
        since: dt.date | None,
        until: dt.date | None,
        dataset: str,
        wait: float,
        **options: Any,
    ) -> None:
        if since and until and since > until:
            raise CommandError("--since is after --until")
        datasets = (ACTUAL, AMORTIZED) if dataset == "both" else (dataset,)
        try:
            result = cost_pull(since=since, until=until, datasets=datasets, lock_wait=wait)
        except NotConfigured as exc:
            raise CommandError(str(exc)) from None
        if result.busy:
            raise CommandError(f"another cost pull is running ({result.busy_holder or 'unknown'})")
        for query in result.queries:
            if query.error:
                self.stderr.write(f"{query.path}: {query.error}")
                continue
            self.stdout.write(
                f"{query.path}: {query.read} lines read = {query.stored} stored + {query.updated} updated"
                f" + {query.unchanged} unchanged + {query.ignored} ignored + {query.rejected} rejected"
            )
        failed = sum(bool(query.error) for query in result.queries)
        if failed:
            raise CommandError(f"{failed} of {len(result.queries)} queries failed")
