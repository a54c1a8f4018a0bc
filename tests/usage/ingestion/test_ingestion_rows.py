"""The pure row parsers: real-shaped rows in, normalized records or rejections out."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.ingestion_rows import (
    CHAT_RESPONSE,
    GATEWAY_RECORD,
    GATEWAY_ROW,
    LLM_RECORD,
    LLM_ROW,
    NATIVE_RECORD,
    NATIVE_ROW,
)
from usage.ingestion.cells import Rejection, datetime_parse
from usage.ingestion.diagnostic import diagnostic_record_convert
from usage.ingestion.rows import (
    GatewayRow,
    LlmChunkRow,
    NativeRow,
    gateway_row_parse,
    llm_row_parse,
    native_row_parse,
    url_deployment_and_version,
)


def test_it_parses_a_gateway_row_with_text_cells():
    row = gateway_row_parse(GATEWAY_ROW)
    assert isinstance(row, GatewayRow)
    assert row.correlation_id == "99789635-18d0-480f-8182-a3a3c477a6a4"
    assert row.time == datetime(2024, 7, 2, 6, 31, 31, 446590, tzinfo=UTC)
    assert (row.deployment, row.api_version) == ("gpt-chat-pilot", "2024-02-15-preview")
    assert row.apim_request_id == "d427a391-2bc7-4f38-9cbc-6560600e0981"
    assert row.backend_region == "eastus"
    assert (row.ratelimit_remaining_requests, row.ratelimit_remaining_tokens) == (119, 119978)
    assert (row.response_code, row.backend_response_code, row.is_request_success) == (200, 200, True)
    assert (row.total_time_ms, row.backend_time_ms, row.client_time_ms) == (176.0, 170.0, 1.0)
    assert (row.request_size, row.response_size) == (536, 1604)
    assert row.apim_subscription_id == "team-search"
    assert row.apim_region == "eastus"  # Azure's region name, not the display name
    assert row.response_body == CHAT_RESPONSE
    assert "capital of tamilnadu" in row.request_body


def test_it_accepts_dynamic_cells_as_objects_and_native_types():
    row = gateway_row_parse(
        {
            **GATEWAY_ROW,
            "TimeGenerated": datetime(2024, 7, 2, 6, 31, 31),
            "ResponseCode": 429,
            "TotalTime": 12.5,
            "IsRequestSuccess": False,
            "BackendResponseHeaders": {"Retry-After": "7", "apim-request-id": ["abc"]},
        }
    )
    assert row.time == datetime(2024, 7, 2, 6, 31, 31, tzinfo=UTC)
    assert (row.response_code, row.total_time_ms, row.is_request_success) == (429, 12.5, False)
    assert row.retry_after_ms == 7000
    assert row.apim_request_id == "abc"


@pytest.mark.parametrize(
    ("url", "backend_url", "expected"),
    [
        (
            "https://apim/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
            "",
            ("gpt-4o", "2024-10-21"),
        ),
        (
            "https://apim/aoai/deployments/my%20dep/embeddings?API-Version=2024-06-01",
            "",
            ("my dep", "2024-06-01"),
        ),
        ("https://apim/openai/v1/chat/completions", "", ("", "v1")),
        ("https://apim/openai/v1/responses?api-version=preview", "", ("", "preview")),
        (
            "https://apim/custom/chat",
            "https://be/openai/deployments/o3-mini/chat/completions?api-version=x",
            ("o3-mini", "x"),
        ),
        ("", "", ("", "")),
    ],
)
def test_it_reads_deployment_and_api_version_from_the_url(url, backend_url, expected):
    assert url_deployment_and_version(url, backend_url) == expected


@pytest.mark.parametrize(
    ("headers", "expected_ms"),
    [
        ({"retry-after-ms": "1500", "retry-after": "2"}, 1500),
        ({"Retry-After": "3"}, 3000),
        ({"retry-after": "0.5"}, 500),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),
        ({}, None),
    ],
)
def test_it_reads_retry_after_in_milliseconds(headers, expected_ms):
    row = gateway_row_parse({**GATEWAY_ROW, "BackendResponseHeaders": json.dumps(headers)})
    assert row.retry_after_ms == expected_ms


def test_it_never_takes_the_backend_host_for_a_region_without_x_ms_region():
    row = gateway_row_parse({**GATEWAY_ROW, "BackendResponseHeaders": "{}"})
    assert row.backend_region == ""  # resolved when usage is computed (tests/test_regions.py)
    assert row.apim_request_id == ""


def test_it_takes_the_apim_request_id_from_client_response_headers_when_backend_ones_are_missing():
    row = gateway_row_parse(
        {**GATEWAY_ROW, "BackendResponseHeaders": None, "ResponseHeaders": '{"apim-request-id": "X-1"}'}
    )
    assert row.apim_request_id == "x-1"


def test_it_tolerates_missing_columns_of_older_workspaces():
    row = gateway_row_parse({"TimeGenerated": "2024-07-02T06:31:31Z", "CorrelationId": "abc"})
    assert isinstance(row, GatewayRow)
    assert row.response_code is None and row.request_headers == {} and row.request_body == ""


def test_it_matches_column_names_case_insensitively():
    row = gateway_row_parse(
        {"timegenerated": "2024-07-02T06:31:31Z", "correlationid": "abc", "RESPONSECODE": "500"}
    )
    assert (row.correlation_id, row.response_code) == ("abc", 500)


def test_it_parses_the_portal_csv_datetime_format():
    assert datetime_parse("7/2/2024, 6:31:31.446 AM") == datetime(2024, 7, 2, 6, 31, 31, 446000, tzinfo=UTC)
    assert datetime_parse("11/25/2026, 1:05:00.000 PM") == datetime(2026, 11, 25, 13, 5, tzinfo=UTC)
    assert datetime_parse("2024-07-02T08:31:31+02:00") == datetime(2024, 7, 2, 6, 31, 31, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"CorrelationId": ""}, "CorrelationId: missing"),
        ({"CorrelationId": "x" * 65}, "CorrelationId: longer than 64 characters"),
        ({"TimeGenerated": None}, "TimeGenerated: missing"),
        ({"TimeGenerated": "last tuesday"}, "TimeGenerated: not a datetime"),
        ({"TimeGenerated": "0001-01-01T00:00:00Z"}, "TimeGenerated: out of range"),
        ({"TimeGenerated": "1900-01-01T00:00:00Z"}, "TimeGenerated: out of range"),
        ({"TimeGenerated": "2014-12-31T23:59:59Z"}, "TimeGenerated: out of range"),
        ({"TimeGenerated": "2100-01-01T00:00:00Z"}, "TimeGenerated: out of range"),
        ({"TimeGenerated": "9999-12-31T23:59:59Z"}, "TimeGenerated: out of range"),
        ({"CorrelationId": "ab\ud800"}, "CorrelationId: lone surrogate"),
        ({"CorrelationId": {"id": 1}}, "CorrelationId: not a text"),
    ],
)
def test_it_rejects_a_gateway_row_whose_key_is_unusable_with_a_reason(change, reason):
    result = gateway_row_parse({**GATEWAY_ROW, **change})
    assert isinstance(result, Rejection)
    assert result.kind == reason
    assert result.reason.startswith(reason)


def test_a_time_up_to_a_day_ahead_is_kept_and_past_it_is_rejected():
    soon = datetime.now(UTC) + timedelta(hours=23)
    later = datetime.now(UTC) + timedelta(hours=25)
    assert gateway_row_parse({**GATEWAY_ROW, "TimeGenerated": soon.isoformat()}).time == soon
    rejection = gateway_row_parse({**GATEWAY_ROW, "TimeGenerated": later.isoformat()})
    assert rejection.kind == "TimeGenerated: out of range" and "more than a day ahead" in rejection.reason


@pytest.mark.parametrize(
    ("change", "attribute", "note"),
    [
        ({"ResponseCode": "OK"}, "response_code", "ResponseCode: not an integer ('OK')"),
        ({"ResponseCode": "99999999999"}, "response_code", "ResponseCode: out of range ('99999999999')"),
        ({"TotalTime": "-5"}, "total_time_ms", "TotalTime: negative ('-5')"),
        ({"TotalTime": float("inf")}, "total_time_ms", "TotalTime: not finite (inf)"),
        ({"TotalTime": "Infinity"}, "total_time_ms", "TotalTime: not finite ('Infinity')"),
        ({"BackendTime": float("nan")}, "backend_time_ms", "BackendTime: not finite (nan)"),
        ({"ClientTime": 10**400}, "client_time_ms", "ClientTime: out of range"),
        ({"RequestSize": 2**70}, "request_size", "RequestSize: out of range (1180591620717411303424)"),
        ({"ResponseSize": -1}, "response_size", "ResponseSize: negative (-1)"),
        ({"IsRequestSuccess": "maybe"}, "is_request_success", "IsRequestSuccess: not a boolean ('maybe')"),
        ({"BackendResponseHeaders": "{not json"}, "apim_request_id", "BackendResponseHeaders: not JSON"),
        ({"BackendResponseHeaders": "[1, 2]"}, "apim_request_id", "BackendResponseHeaders: not an object"),
    ],
)
def test_an_unusable_gateway_value_is_left_empty_with_a_note(change, attribute, note):
    row = gateway_row_parse({**GATEWAY_ROW, **change})
    assert isinstance(row, GatewayRow)
    assert getattr(row, attribute) in (None, "")
    assert row.ingest_notes.startswith(note)
    assert row.correlation_id == "99789635-18d0-480f-8182-a3a3c477a6a4" and row.response_body == CHAT_RESPONSE


def test_a_good_row_has_no_note():
    assert gateway_row_parse(GATEWAY_ROW).ingest_notes == ""
    assert native_row_parse(NATIVE_ROW).ingest_notes == ""
    assert llm_row_parse(LLM_ROW).ingest_notes == ""


def test_it_rejects_something_that_is_not_a_row():
    assert gateway_row_parse(["not", "a", "dict"]).kind == "row is not an object"


def test_it_removes_nul_characters_postgres_cannot_store():
    row = gateway_row_parse({**GATEWAY_ROW, "RequestBody": "a\x00b"})
    assert row.request_body == "ab"


def test_it_parses_a_native_row_and_its_properties():
    row = native_row_parse(NATIVE_ROW)
    assert isinstance(row, NativeRow)
    assert row.correlation_id == "d427a391-2bc7-4f38-9cbc-6560600e0981"
    assert (row.model_deployment, row.model_name, row.model_version) == (
        "gpt-chat-pilot",
        "gpt-35-turbo",
        "0301",
    )
    assert (row.stream_type, row.object_id) == ("Non-Streaming", "5f0c2d7e-8a41-4b9f-a3e6-c21d7b90e418")
    assert (row.request_length, row.response_length, row.duration_ms) == (128, 1411, 1021.0)
    assert (row.operation_name, row.result_signature, row.location) == (
        "ChatCompletions_Create",
        "200",
        "eastus",
    )
    assert row.properties["requestTime"] == 638515262815394150


def test_it_accepts_native_properties_as_an_object():
    row = native_row_parse({**NATIVE_ROW, "properties_s": json.loads(NATIVE_ROW["properties_s"])})
    assert row.model_name == "gpt-35-turbo"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ResourceProvider": "MICROSOFT.KEYVAULT"}, "not an Azure OpenAI row"),
        ({"Category": "Audit"}, "not a RequestResponse row"),
        ({"CorrelationId": None}, "CorrelationId: missing"),
        ({"TimeGenerated": "0001-01-01T00:00:00Z"}, "TimeGenerated: out of range"),
    ],
)
def test_it_rejects_a_malformed_native_row_with_a_reason(change, reason):
    result = native_row_parse({**NATIVE_ROW, **change})
    assert isinstance(result, Rejection)
    assert result.kind == reason


@pytest.mark.parametrize(
    ("change", "note"),
    [
        ({"DurationMs": "-1021"}, "DurationMs: negative ('-1021')"),
        ({"properties_s": '{"modelName": '}, "properties_s: not JSON"),
        ({"properties_s": '"text"'}, "properties_s: not an object ('text')"),
    ],
)
def test_one_bad_native_value_no_longer_rejects_the_row(change, note):
    row = native_row_parse({**NATIVE_ROW, **change})
    assert isinstance(row, NativeRow)
    assert row.ingest_notes.startswith(note)
    assert (row.correlation_id, row.location) == ("d427a391-2bc7-4f38-9cbc-6560600e0981", "eastus")


def test_a_negative_native_length_is_left_empty_with_a_note():
    properties = {**json.loads(NATIVE_ROW["properties_s"]), "responseLength": -3, "requestLength": 2**64}
    row = native_row_parse({**NATIVE_ROW, "properties_s": properties})
    assert (row.response_length, row.request_length, row.duration_ms) == (None, None, 1021.0)
    assert row.model_name == "gpt-35-turbo"
    assert row.ingest_notes == "requestLength: out of range (18446744073709551616); responseLength: negative (-3)"


def test_it_parses_an_llm_log_chunk():
    row = llm_row_parse(LLM_ROW)
    assert isinstance(row, LlmChunkRow)
    assert (row.sequence_number, row.prompt_tokens, row.completion_tokens, row.total_tokens) == (0, 14, 8, 22)
    assert row.is_stream_completion is False
    assert (row.deployment_name, row.model_name, row.request_id) == (
        "gpt-4o",
        "gpt-4o-2024-11-20",
        "chatcmpl-abc",
    )


def test_it_keeps_llm_messages_given_as_objects_as_json_text():
    messages = [{"role": "user", "content": "héllo"}]
    row = llm_row_parse({**LLM_ROW, "SequenceNumber": 1, "RequestMessages": messages, "PromptTokens": None})
    assert json.loads(row.request_messages) == messages
    assert row.prompt_tokens is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"SequenceNumber": "first"}, "SequenceNumber: not an integer"),
        ({"SequenceNumber": -1}, "SequenceNumber: out of range"),
        ({"CorrelationId": ""}, "CorrelationId: missing"),
        ({"RequestId": "x\ud800"}, "RequestId: lone surrogate"),
        ({"TimeGenerated": "2100-01-01T00:00:00Z"}, "TimeGenerated: out of range"),
    ],
)
def test_it_rejects_a_malformed_llm_row_with_a_reason(change, reason):
    assert llm_row_parse({**LLM_ROW, **change}).kind == reason


@pytest.mark.parametrize(
    ("change", "note"),
    [
        ({"PromptTokens": "many"}, "PromptTokens: not an integer ('many')"),
        ({"PromptTokens": -14}, "PromptTokens: negative (-14)"),
        ({"PromptTokens": float("nan")}, "PromptTokens: not an integer (nan)"),
    ],
)
def test_an_unusable_llm_token_count_is_left_empty_with_a_note(change, note):
    row = llm_row_parse({**LLM_ROW, **change})
    assert row.prompt_tokens is None and row.completion_tokens == 8
    assert row.ingest_notes == note


def test_it_maps_a_gateway_diagnostic_record_to_the_gateway_parser():
    table, row = diagnostic_record_convert(GATEWAY_RECORD)
    assert table == "ApiManagementGatewayLogs"
    parsed = gateway_row_parse(row)
    assert parsed.correlation_id == "0aa398fe-7b98-49aa-8352-52ce04ddc34a"
    assert parsed.time == datetime(2024, 7, 2, 6, 14, 56, 237187, tzinfo=UTC)
    assert (parsed.total_time_ms, parsed.backend_time_ms) == (453.0, 452.0)
    assert (parsed.response_code, parsed.is_request_success) == (400, False)
    assert (parsed.deployment, parsed.api_version) == ("gpt-chat-pilot", "2024-02-15-preview")
    assert parsed.apim_subscription_id == "team-legal"
    assert parsed.apim_request_id == "11111111-2222-4333-8444-555555555555"
    assert (parsed.caller_ip, parsed.apim_region, parsed.last_error_reason) == (
        "81.2.69.144",
        "eastus",
        "BackendError",
    )


def test_it_maps_a_native_diagnostic_record_with_properties_as_json_text():
    table, row = diagnostic_record_convert(NATIVE_RECORD)
    assert table == "AzureDiagnostics"
    parsed = native_row_parse(row)
    assert parsed.correlation_id == "9d3a6e98-fc11-48d0-82cf-4de065c1a1f8"
    assert (parsed.operation_name, parsed.duration_ms, parsed.response_length) == (
        "Create_Thread",
        102.0,
        113,
    )
    assert parsed.location == "eastus"


def test_it_maps_an_llm_diagnostic_record():
    table, row = diagnostic_record_convert(LLM_RECORD)
    assert table == "ApiManagementGatewayLlmLog"
    parsed = llm_row_parse(row)
    assert (parsed.correlation_id, parsed.request_id, parsed.sequence_number) == (
        "0aa398fe-7b98-49aa-8352-52ce04ddc34a",
        "chatcmpl-1",
        2,
    )
    assert parsed.is_stream_completion is True
    assert json.loads(parsed.response_messages)[0]["content"] == "hi"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({**NATIVE_RECORD, "category": "Audit"}, "unsupported category"),
        ({**NATIVE_RECORD, "category": None}, "unsupported category"),
        ({**NATIVE_RECORD, "properties": "{oops"}, "properties: not JSON"),
        ({**NATIVE_RECORD, "properties": "[1]"}, "properties: not an object"),
        ("just text", "record is not an object"),
    ],
)
def test_it_rejects_a_record_it_cannot_map(record, reason):
    result = diagnostic_record_convert(record)
    assert isinstance(result, Rejection)
    assert result.kind == reason
