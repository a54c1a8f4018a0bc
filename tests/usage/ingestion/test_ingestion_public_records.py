"""Public real-world diagnostic records (tests/data/public/, see its README for sources) imported
with import_logs: every record is accounted for, and what the fields permit is stored."""

from pathlib import Path

from tests.support.imports import good_file_import_check, logs_file_import_checked
from usage.models import GatewayRequest, NativeLog

PUBLIC = Path(__file__).parents[2] / "data" / "public"


def test_elastic_gateway_records_are_stored_with_their_usage(db, tmp_path):
    run = logs_file_import_checked(PUBLIC / "elastic-azure-openai-gateway.log")
    assert (run.rows_read, run.rows_stored, run.rejected) == (2, 2, 0)
    ok = GatewayRequest.objects.get(correlation_id="99789635-18d0-480f-8182-a3a3c477a6a4")
    assert (ok.response_code, ok.deployment, ok.total_time_ms) == (200, "gpt-chat-pilot", 176.0)
    assert (ok.token_source, ok.prompt_tokens, ok.completion_tokens) == ("reported", 14, 8)
    assert ok.ingest_notes == ""
    refused = GatewayRequest.objects.get(correlation_id="0aa398fe-7b98-49aa-8352-52ce04ddc34a")
    assert (refused.response_code, refused.apim_subscription_id, refused.ingest_notes) == (400, "", "")
    good_file_import_check(tmp_path)


def test_elastic_request_response_records_keep_the_row_with_a_negative_duration(db, tmp_path):
    run = logs_file_import_checked(PUBLIC / "elastic-azure-openai-request-response.log")
    # The second and third records share a correlation id (with different content).
    assert (run.rows_read, run.rows_stored, run.rejected) == (3, 2, 0)
    assert run.duplicates + run.conflicts == 1
    thread = NativeLog.objects.get(correlation_id="9d3a6e98-fc11-48d0-82cf-4de065c1a1f8")
    assert (thread.operation_name, thread.request_length, thread.response_length) == ("Create_Thread", 2, 113)
    chat = NativeLog.objects.get(correlation_id="d427a391-2bc7-4f38-9cbc-6560600e0981")
    assert (chat.duration_ms, chat.location, chat.stream_type) == (1021.0, "eastus", "Non-Streaming")
    good_file_import_check(tmp_path)


def test_elastic_audit_record_is_accounted_for_and_not_stored(db, tmp_path):
    run = logs_file_import_checked(PUBLIC / "elastic-azure-openai-audit.log")
    assert (run.rows_read, run.rows_stored) == (1, 0)
    assert run.rejected + run.skipped == 1  # a category the portal does not read
    good_file_import_check(tmp_path)
