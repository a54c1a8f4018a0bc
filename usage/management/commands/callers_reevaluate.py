from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from aoai_portal.months import month_bounds, month_parse
from aoai_portal.params import ParamError, datetime_parse
from usage.identity.services import CallersReevaluated, callers_reevaluate


class Command(BaseCommand):
    help = (
        "Re-derive who called each stored request (identity header, native objectId unless it is "
        "a gateway identity, APIM user: docs/identity.md) and store what changed. Run it after "
        "confirming a gateway identity or changing PORTAL_IDENTITY_HEADERS. Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        window = parser.add_mutually_exclusive_group()
        window.add_argument("--since", help="Only requests from this date or UTC datetime on.")
        window.add_argument("--month", help="Only the requests of this UTC month (YYYY-MM).")
        parser.add_argument("--batch", type=int, default=2000, help="Requests read per query.")

    def handle(self, *args: Any, since: str | None, month: str | None, batch: int, **options: Any) -> None:
        begin = end = None
        try:
            if since:
                begin = datetime_parse(since, name="--since")
            elif month:
                begin, end = month_bounds(month_parse(month, name="--month"))
        except ParamError as error:
            raise CommandError(str(error)) from None

        def progress(result: CallersReevaluated) -> None:
            self.stderr.write(f"\r{result.examined} examined, {result.changed} changed", ending="")

        result = callers_reevaluate(begin=begin, end=end, batch=batch, progress=progress)
        if result.examined:
            self.stderr.write("")
        self.stdout.write(f"examined {result.examined} requests; {result.changed} changed caller")
