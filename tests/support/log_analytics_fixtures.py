"""Fixtures for tests that pull from the local Log Analytics emulator with the real SDK over HTTP."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.db.models import Sum

from usage.demo.data import generate_logs
from usage.demo.emulator import LogAnalyticsEmulator
from usage.models import GatewayRequest, IngestionWatermark, LlmLogChunk, NativeLog, RejectedRow

# Three whole hours of generated traffic, well in the past (the emulator shows rows once their time passed).
START = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
END = START + timedelta(hours=3)


@pytest.fixture
def logs() -> dict[str, list[dict]]:
    return generate_logs(start=START, end=END, requests_per_hour=12, seed=42)


@pytest.fixture
def emulator(settings, logs) -> Iterator[LogAnalyticsEmulator]:
    """An emulator holding ``logs``, with the settings pointing the pull at it."""
    server = LogAnalyticsEmulator()
    server.load(logs)
    server.start()
    settings.LOG_ANALYTICS_ENDPOINT = server.endpoint
    settings.LOG_ANALYTICS_WORKSPACE_ID = "00000000-0000-0000-0000-00000000feed"
    settings.LOG_ANALYTICS_CREDENTIAL = "static"
    settings.LOG_ANALYTICS_ALLOW_HTTP = True
    settings.INGEST_WINDOW_SECONDS = 3600
    settings.INGEST_BACKOFF_SECONDS = 0
    settings.INGEST_RETRIES = 2
    settings.REDIS_URL = ""
    yield server
    server.stop()


def totals() -> dict[str, object]:
    """Everything a re-run must leave unchanged."""
    usage = GatewayRequest.objects.aggregate(tokens=Sum("total_tokens"), cost=Sum("cost"))
    return {
        "requests": GatewayRequest.objects.count(),
        "tokens": usage["tokens"],
        "cost": usage["cost"],
        "native": NativeLog.objects.count(),
        "llm_chunks": LlmLogChunk.objects.count(),
        "rejected": RejectedRow.objects.count(),
    }


def watermarks() -> dict[str, datetime]:
    return dict(IngestionWatermark.objects.values_list("table", "watermark"))


def reference_totals(server: LogAnalyticsEmulator) -> dict:
    """Totals of a clean pull of the same data, into a savepoint that is rolled back."""
    from usage.ingestion.log_analytics import log_analytics_pull

    class Rollback(Exception):
        pass

    captured = {}
    try:
        with transaction.atomic():
            assert log_analytics_pull(since=START, until=END).ok
            captured.update(totals())
            raise Rollback
    except Rollback:
        pass
    server.queries.clear()
    return captured
