"""Checked imports of log files with ``import_logs`` (the poison and public-record tests)."""

import json
from datetime import UTC, datetime
from pathlib import Path

from django.core.management import call_command

from usage.demo.data import generate_logs
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import GatewayRequest, IngestionRun, LlmLogChunk, NativeLog


def logs_file_import_checked(path: Path) -> IngestionRun:
    """``import_logs`` of one file; its run ended well and accounted for every row read."""
    call_command("import_logs", str(path), stdout=open("/dev/null", "w"))
    run = IngestionRun.objects.latest("id")
    assert run.status == IngestionRun.Status.OK, run.error
    assert run.finished_at is not None
    assert run.rows_read == run.rows_stored + run.duplicates + run.conflicts + run.skipped + run.rejected
    return run


def good_file_import_check(tmp_path: Path) -> None:
    """A good generated file imported after a bad one is stored whole."""
    start = datetime(2026, 11, 3, 14, tzinfo=UTC)
    logs = generate_logs(
        start=start, end=start.replace(hour=15), requests_per_hour=10, seed=4, malformed=False
    )
    rows = [{**row, "Type": table} for table in (GATEWAY, NATIVE, LLM_LOG) for row in logs[table]]
    path = tmp_path / "good.json"
    path.write_text(json.dumps(rows))
    before = {
        "g": GatewayRequest.objects.count(),
        "n": NativeLog.objects.count(),
        "l": LlmLogChunk.objects.count(),
    }
    run = logs_file_import_checked(path)
    assert run.rejected == 0 and run.rows_read == len(rows)
    stored = {
        "g": GatewayRequest.objects.count() - before["g"],
        "n": NativeLog.objects.count() - before["n"],
        "l": LlmLogChunk.objects.count() - before["l"],
    }
    unique = {
        "g": len({r["CorrelationId"] for r in logs[GATEWAY]}),
        "n": len({r["CorrelationId"] for r in logs[NATIVE]}),
        "l": len(
            {(r["CorrelationId"], r.get("RequestId"), str(r.get("SequenceNumber"))) for r in logs[LLM_LOG]}
        ),
    }
    assert stored == unique
