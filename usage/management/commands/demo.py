"""``python manage.py demo``: the whole portal on embedded defaults, fed through the real pull.

Migrates the (SQLite) database, starts the Log Analytics emulator in-process with generated
traffic, pulls it with the real LogsQueryClient over HTTP, creates demo accounts and cost centers,
runs the other apps' demo steps (``usage.demo.hooks``: an invoice of this traffic, imported),
keeps pulling every INGEST_INTERVAL_SECONDS, and serves the site.
"""

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone
from tqdm import tqdm

from aoai_portal.env import env_int
from quotas.demo import quota_demo_seed
from usage.demo.emulator import demo_emulator
from usage.demo.hooks import demo_steps_run
from usage.demo.site import (
    DemoScheduler,
    demo_accounts_create,
    demo_cost_centers_seed,
    demo_log_analytics_configure,
)
from usage.ingestion.log_analytics import log_analytics_pull
from usage.ingestion.log_analytics_query import TABLES


class Command(BaseCommand):
    help = "Run the embedded demo: emulator + real ingestion + demo accounts + the site on 127.0.0.1:8000."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=float, default=float(env_int("DEMO_DAYS", 7)), help="days of traffic"
        )
        parser.add_argument(
            "--requests-per-hour",
            type=int,
            default=env_int("DEMO_REQUESTS_PER_HOUR", 60),
            help="APIM requests/hour",
        )
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--addr", default="127.0.0.1:8000", help="where to serve the site")
        parser.add_argument("--no-serve", action="store_true", help="set everything up, pull once, and exit")
        parser.add_argument(
            "--force", action="store_true", help="allow a database other than SQLite (it gets demo data!)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "sqlite" and not options["force"]:
            raise CommandError(
                f"the demo writes demo users and data; DATABASE_URL points at {connection.vendor}. "
                "Unset DATABASE_URL (SQLite) or pass --force."
            )
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)  # whitenoise wants it to exist
        self.stdout.write("Migrating the database…")
        call_command("migrate", interactive=False, verbosity=0)

        emulator = demo_emulator(
            days=options["days"], requests_per_hour=options["requests_per_hour"], seed=options["seed"]
        )
        emulator.start()
        demo_log_analytics_configure(endpoint=emulator.endpoint)
        self.stdout.write(f"Log Analytics emulator on {emulator.endpoint}")

        now = timezone.now()
        since = now - timedelta(days=options["days"])
        self._pull(since=since, now=now)
        demo_cost_centers_seed()
        # Tiers sized from the demo's own usage, so the quota page shows ok, warning and over.
        quota_demo_seed(now=now)
        # Other apps' parts of the demo (the cost export of this traffic, imported: costs.demo).
        for line in demo_steps_run(now=now):
            self.stdout.write(line)
        accounts = demo_accounts_create()

        if options["no_serve"]:
            self._accounts(accounts, url=None)
            emulator.stop()
            return
        scheduler = DemoScheduler(interval=settings.INGEST_INTERVAL_SECONDS).start()
        self._accounts(accounts, url=f"http://{options['addr']}/")
        self.stdout.write(f"Pulling new rows every {settings.INGEST_INTERVAL_SECONDS} s. Ctrl-C stops.")
        try:
            call_command("runserver", options["addr"], use_reloader=False, use_threading=True)
        finally:
            scheduler.stop()
            emulator.stop()

    def _pull(self, *, since, now) -> None:
        """The first, big pull: same code as the scheduled one, with a progress bar."""
        end = now - timedelta(seconds=settings.INGEST_DELAY_SECONDS)
        hours = (end - since).total_seconds() / 3600 * len(TABLES)
        bar = tqdm(
            total=hours,
            unit="h",
            file=sys.stderr,
            desc="ingesting",
            bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} h of logs [{elapsed}<{remaining}]",
        )

        def progress(table, covered):
            bar.set_postfix_str(table)
            # Windows are summed in floats: never past the total (tqdm warns and clamps there).
            bar.update(min(covered.total_seconds() / 3600, hours - bar.n))

        try:
            result = log_analytics_pull(since=since, now=now, lock_wait=30, progress=progress)
        finally:
            bar.close()
        for outcome in result.tables:
            self.stdout.write(
                f"  {outcome.table}: {outcome.rows_read} rows read, {outcome.stored} stored, "
                f"{outcome.duplicates} duplicates, {outcome.rejected} rejected"
                + (f" — FAILED: {outcome.error}" if outcome.error else "")
            )

    def _accounts(self, accounts, *, url) -> None:
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS("Demo accounts (local sign-in, passwords are new on every start):")
        )
        for account in accounts:
            self.stdout.write(f"  {account.role:<9} user: {account.username:<9} password: {account.password}")
        if url:
            self.stdout.write(self.style.SUCCESS(f"Open {url} and sign in under “Local account”."))
