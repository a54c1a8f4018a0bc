from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from usage.retention import requests_retention_apply


class Command(BaseCommand):
    help = (
        "Remove the months of requests older than REQUEST_RETENTION_MONTHS (with their flags and "
        "review items, and their native log rows and LLM-log chunks; rollups stay). Also run nightly "
        "by the beat schedule."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = requests_retention_apply()
        if result.cutoff is None:
            self.stdout.write("REQUEST_RETENTION_MONTHS is 0: requests are kept forever, nothing removed")
            return
        months = ", ".join(f"{m:%Y-%m}" for m in result.months_dropped) or "none"
        self.stdout.write(
            f"kept {settings.REQUEST_RETENTION_MONTHS} months before the current one; removed "
            f"{result.requests} requests before {result.cutoff:%Y-%m-%d} ({result.flags} flags, "
            f"{result.review_items} review items, {result.native_logs} native log rows, "
            f"{result.llm_log_chunks} LLM-log chunks); partitions dropped: {months}"
        )
