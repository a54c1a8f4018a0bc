from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from usage.rollups.hourly_prune import hourly_rollups_prune


class Command(BaseCommand):
    help = (
        "Drop the hourly rollup rows of the days before PORTAL_HOURLY_ROLLUP_MONTHS (their daily "
        "rollups stay, so every page keeps its numbers). Idempotent; also run nightly by the beat schedule."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = hourly_rollups_prune()
        if result.horizon is None:
            self.stdout.write("PORTAL_HOURLY_ROLLUP_MONTHS is 0: hourly rollup rows are kept forever")
            return
        self.stdout.write(
            f"kept hourly rows of {settings.PORTAL_HOURLY_ROLLUP_MONTHS} month(s) from "
            f"{result.horizon:%Y-%m-%d}; dropped {result.rows} hourly rows of {len(result.days)} day(s)"
        )
