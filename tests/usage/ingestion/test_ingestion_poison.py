"""Poison files (tests/data/poison/): one unusable value among good rows, imported with import_logs.

A key that cannot be used (a time outside 2015-01-01 .. now + 1 day) rejects its row with the
reason; any other unusable value (Infinity, a lone surrogate, an int past 64 bits, a negative
duration) leaves that field empty with a note and the row stored; negative or NaN usage is not
"reported": the tokens are estimated and the note says why. Every row is accounted for, the rows
after the bad one are stored, the run ends, and a good file imported afterwards is stored whole.
"""

from pathlib import Path

import pytest

from tests.support.imports import good_file_import_check, logs_file_import_checked
from usage.models import GatewayRequest, NativeLog, RejectedRow

POISON = Path(__file__).parents[2] / "data" / "poison"


def cid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


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
    run = logs_file_import_checked(POISON / name)
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
    good_file_import_check(tmp_path)


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
    run = logs_file_import_checked(POISON / name)
    assert (run.rows_read, run.rows_stored, run.rejected) == (3, 3, 0)
    request = GatewayRequest.objects.get(correlation_id=cid(bad))
    assert getattr(request, field) in (None, "")
    assert request.ingest_notes == note
    others = GatewayRequest.objects.exclude(correlation_id=cid(bad))
    assert [r.ingest_notes for r in others] == ["", ""]
    good_file_import_check(tmp_path)


@pytest.mark.parametrize(
    ("name", "bad", "why"),
    [
        ("gateway-usage-negative.jsonl", 801, "usage in the response unusable (prompt_tokens: -14)"),
        ("gateway-usage-nan.jsonl", 901, "usage in the response unusable (prompt_tokens: nan)"),
    ],
)
def test_negative_or_nan_usage_is_estimated_with_a_note(db, tmp_path, name, bad, why):
    run = logs_file_import_checked(POISON / name)
    assert (run.rows_read, run.rows_stored, run.rejected) == (2, 2, 0)
    request = GatewayRequest.objects.get(correlation_id=cid(bad))
    assert request.token_source == "estimated"
    assert request.usage_note.startswith(why)
    assert request.prompt_tokens > 0 and request.completion_tokens > 0
    assert request.total_tokens == request.prompt_tokens + request.completion_tokens
    good = GatewayRequest.objects.get(correlation_id=cid(bad + 1))
    assert (good.token_source, good.total_tokens) == ("reported", 17)
    good_file_import_check(tmp_path)


def test_a_negative_native_duration_no_longer_rejects_the_row(db, tmp_path):
    run = logs_file_import_checked(POISON / "native-duration-negative.jsonl")
    assert (run.rows_read, run.rows_stored, run.rejected) == (3, 3, 0)
    native = NativeLog.objects.get(correlation_id=cid(1002))
    assert native.duration_ms is None and native.ingest_notes == "DurationMs: negative (-1021)"
    assert (native.model_deployment, native.model_name, native.request_length, native.stream_type) == (
        "gpt-4o",
        "gpt-4o",
        128,
        "Non-Streaming",
    )
    good_file_import_check(tmp_path)


def test_the_request_page_shows_the_note(db, tmp_path, client_for, reviewer_user):
    logs_file_import_checked(POISON / "gateway-totaltime-infinity.json")
    page = client_for(reviewer_user).get(f"/requests/{cid(502)}/")
    assert page.status_code == 200
    assert "Left empty at import" in page.content.decode()
    assert "TotalTime: not finite (inf)" in page.content.decode()
