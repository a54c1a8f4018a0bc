"""Poison files (tests/data/poison/): one unusable value among good rows, imported with import_logs.

A key that cannot be used (a time outside 2015-01-01 .. now + 1 day) rejects its row with the
reason; any other unusable value (Infinity, a lone surrogate, an int past 64 bits, a negative
duration) leaves that field empty with a note and the row stored; negative or NaN usage is not
"reported": the tokens are estimated and the note says why. Every row is accounted for, the rows
after the bad one are stored, the run ends, and a good file imported afterwards is stored whole.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command

from usage.demo_data import generate_logs
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import GatewayRequest, IngestionRun, LlmLogChunk, NativeLog, RejectedRow

POISON = Path(__file__).parents[2] / "data" / "poison"


def cid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def _import(path: Path) -> IngestionRun:
    call_command("import_logs", str(path), stdout=open("/dev/null", "w"))
    run = IngestionRun.objects.latest("id")
    assert run.status == IngestionRun.Status.OK, run.error
    assert run.finished_at is not None
    assert run.rows_read == run.rows_stored + run.duplicates + run.conflicts + run.skipped + run.rejected
    return run


def _good_file_is_stored_whole(tmp_path: Path) -> None:
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
    run = _import(path)
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


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("gateway-time-0001.jsonl", 102),
        ("gateway-time-9999.jsonl", 202),
        ("gateway-time-1900.jsonl", 302),
        ("gateway-time-2100.jsonl", 402),
    ],
)
def test_a_time_out_of_range_rejects_its_row_and_the_others_are_stored(db, tmp_path, name, bad):
    run = _import(POISON / name)
    assert (run.rows_read, run.rows_stored, run.rejected) == (3, 2, 1)
    assert run.reasons == {"TimeGenerated: out of range": 1}
    assert set(GatewayRequest.objects.values_list("correlation_id", flat=True)) == {
        cid(bad - 1),
        cid(bad + 1),
    }
    reason = RejectedRow.objects.get().reason
    assert reason.startswith("TimeGenerated: out of range: ") and (
        "before 2015-01-01" in reason or "ahead" in reason
    )
    _good_file_is_stored_whole(tmp_path)


@pytest.mark.parametrize(
    ("name", "bad", "field", "note"),
    [
        ("gateway-totaltime-infinity.json", 502, "total_time_ms", "TotalTime: not finite (inf)"),
        ("gateway-lone-surrogate.jsonl", 602, "request_body", "request_body: lone surrogate"),
        (
            "gateway-int-past-64-bits.jsonl",
            702,
            "request_size",
            "RequestSize: out of range (123456789012345678901234567890)",
        ),
    ],
)
def test_an_unusable_gateway_value_is_stored_empty_with_a_note(db, tmp_path, name, bad, field, note):
    run = _import(POISON / name)
    assert (run.rows_read, run.rows_stored, run.rejected) == (3, 3, 0)
    request = GatewayRequest.objects.get(correlation_id=cid(bad))
    assert getattr(request, field) in (None, "")
    assert request.ingest_notes == note
    others = GatewayRequest.objects.exclude(correlation_id=cid(bad))
    assert [r.ingest_notes for r in others] == ["", ""]
    _good_file_is_stored_whole(tmp_path)


@pytest.mark.parametrize(
    ("name", "bad", "why"),
    [
        ("gateway-usage-negative.jsonl", 801, "usage in the response unusable (prompt_tokens: -14)"),
        ("gateway-usage-nan.jsonl", 901, "usage in the response unusable (prompt_tokens: nan)"),
    ],
)
def test_negative_or_nan_usage_is_estimated_with_a_note(db, tmp_path, name, bad, why):
    run = _import(POISON / name)
    assert (run.rows_read, run.rows_stored, run.rejected) == (2, 2, 0)
    request = GatewayRequest.objects.get(correlation_id=cid(bad))
    assert request.token_source == "estimated"
    assert request.usage_note.startswith(why)
    assert request.prompt_tokens > 0 and request.completion_tokens > 0
    assert request.total_tokens == request.prompt_tokens + request.completion_tokens
    good = GatewayRequest.objects.get(correlation_id=cid(bad + 1))
    assert (good.token_source, good.total_tokens) == ("reported", 17)
    _good_file_is_stored_whole(tmp_path)


def test_a_negative_native_duration_no_longer_rejects_the_row(db, tmp_path):
    run = _import(POISON / "native-duration-negative.jsonl")
    assert (run.rows_read, run.rows_stored, run.rejected) == (3, 3, 0)
    native = NativeLog.objects.get(correlation_id=cid(1002))
    assert native.duration_ms is None and native.ingest_notes == "DurationMs: negative (-1021)"
    assert (native.model_deployment, native.model_name, native.request_length, native.stream_type) == (
        "gpt-4o",
        "gpt-4o",
        128,
        "Non-Streaming",
    )
    _good_file_is_stored_whole(tmp_path)


def test_the_request_page_shows_the_note(db, tmp_path, client_for, reviewer_user):
    _import(POISON / "gateway-totaltime-infinity.json")
    page = client_for(reviewer_user).get(f"/requests/{cid(502)}/")
    assert page.status_code == 200
    assert "Left empty at import" in page.content.decode()
    assert "TotalTime: not finite (inf)" in page.content.decode()
