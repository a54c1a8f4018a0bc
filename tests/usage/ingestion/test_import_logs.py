"""import_logs: every export format, streamed, idempotent, and clear about files it cannot read."""

import csv
import gzip
import io
import json
from collections import Counter
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from tests.support.ingestion_rows import GATEWAY_RECORD, LLM_RECORD, NATIVE_RECORD
from usage.demo.data import generate_logs
from usage.ingestion import json_stream
from usage.ingestion.cells import datetime_parse
from usage.ingestion.files import FileFormatError, file_format_detect, logs_file_import
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import GatewayRequest, IngestionRun, LlmLogChunk, NativeLog, RejectedRow

START = datetime(2026, 11, 3, 14, tzinfo=UTC)


@pytest.fixture(scope="module")
def logs():
    return generate_logs(
        start=START, end=START.replace(hour=15), requests_per_hour=25, seed=3, malformed=False
    )


def _az_json(path, rows):
    path.write_text(json.dumps(rows, indent=2))
    return path


def _portal_csv(path, rows):
    columns = sorted({column for row in rows for column in row})
    with path.open("w", newline="", encoding="utf-8-sig") as stream:
        writer = csv.writer(stream)
        writer.writerow([f"{c} [UTC]" if c == "TimeGenerated" else c for c in columns])
        for row in rows:
            values = []
            for column in columns:
                value = row.get(column)
                if column == "TimeGenerated":
                    moment = datetime_parse(value)
                    value = (
                        moment.strftime("%-m/%-d/%Y, %-I:%M:%S.")
                        + f"{moment.microsecond // 1000:03d} "
                        + (moment.strftime("%p"))
                    )
                values.append("" if value is None else value)
            writer.writerow(values)
    return path


def _lower_camel(name):
    return name[:1].lower() + name[1:]


def _record(table, row):
    """A Log Analytics row as a diagnostic setting would have written it to Storage."""
    if table == NATIVE:
        return {
            "time": row["TimeGenerated"],
            "category": "RequestResponse",
            "correlationId": row["CorrelationId"],
            "durationMs": row["DurationMs"],
            "callerIpAddress": row["CallerIPAddress"],
            "operationName": row["OperationName"],
            "resultSignature": row["ResultSignature"],
            "location": row["location_s"],
            "resourceId": row["ResourceId"],
            "properties": row["properties_s"],  # JSON text, as in some real records
        }
    top = {
        "TimeGenerated",
        "CorrelationId",
        "TotalTime",
        "CallerIpAddress",
        "IsRequestSuccess",
        "Region",
        "Type",
    }
    properties = {_lower_camel(k): v for k, v in row.items() if k not in top}
    for name in ("backendResponseHeaders", "requestHeaders", "responseHeaders"):
        if properties.get(name):
            properties[name] = json.loads(properties[name])
    return {
        "time": row["TimeGenerated"],
        "category": "GatewayLogs" if table == GATEWAY else "GatewayLlmLogs",
        "correlationId": row["CorrelationId"],
        "durationMs": row.get("TotalTime"),
        "callerIpAddress": row.get("CallerIpAddress"),
        "isRequestSuccess": row.get("IsRequestSuccess"),
        "location": row["Region"],
        "properties": properties,
    }


def _counts():
    return (GatewayRequest.objects.count(), NativeLog.objects.count(), LlmLogChunk.objects.count())


def test_it_imports_az_json_output_with_tables_from_the_type_column(db, tmp_path, logs):
    path = _az_json(tmp_path / "all.json", logs[GATEWAY] + logs[NATIVE] + logs[LLM_LOG])
    result = logs_file_import(path=path)
    assert result.format == "az-json" and not result.error
    assert _counts() == (25, len(logs[NATIVE]), result.tables[LLM_LOG].stored)
    assert result.rows_read == len(logs[GATEWAY]) + len(logs[NATIVE]) + len(logs[LLM_LOG])
    assert result.stored + result.duplicates == result.rows_read
    run = IngestionRun.objects.get(path=str(path))
    assert (run.source, run.status, run.rows_stored) == ("file", "ok", result.stored)


def test_it_detects_the_table_from_the_columns_when_there_is_no_type(db, tmp_path, logs):
    rows = [{k: v for k, v in row.items() if k != "Type"} for row in logs[NATIVE] + logs[GATEWAY]]
    result = logs_file_import(path=_az_json(tmp_path / "untyped.json", rows))
    assert (result.tables[GATEWAY].stored, result.tables[NATIVE].stored) == (25, len(logs[NATIVE]))


def test_it_imports_the_portal_csv_export(db, tmp_path, logs):
    path = _portal_csv(tmp_path / "query_data.csv", logs[GATEWAY])
    result = logs_file_import(path=path)
    assert (result.format, result.error, result.stored) == ("csv", "", 25)
    row = logs[GATEWAY][0]
    request = GatewayRequest.objects.get(correlation_id=row["CorrelationId"])
    assert request.time == datetime_parse(row["TimeGenerated"]).replace(
        microsecond=datetime_parse(row["TimeGenerated"]).microsecond // 1000 * 1000
    )
    assert request.response_body == row["ResponseBody"]
    assert request.apim_request_id == json.loads(row["BackendResponseHeaders"])["apim-request-id"]


def test_it_imports_diagnostic_records_as_json_lines_and_joins_them(db, tmp_path, logs):
    path = tmp_path / "PT1H.json"
    with path.open("w") as stream:
        for table in (NATIVE, GATEWAY, LLM_LOG):
            for row in logs[table]:
                stream.write(json.dumps(_record(table, row)) + "\n")
    result = logs_file_import(path=path)
    assert (result.format, result.error, result.rejected) == ("jsonl", "", 0)
    assert _counts()[:2] == (25, len(logs[NATIVE]))
    joined = GatewayRequest.objects.filter(apim_request_id__in=NativeLog.objects.values("correlation_id"))
    assert joined.count() == len([r for r in logs[NATIVE] if r["CorrelationId"]]) - (
        NativeLog.objects.exclude(correlation_id__in=GatewayRequest.objects.values("apim_request_id")).count()
    )
    assert joined.exists()


def test_it_imports_event_hub_records_files_and_gzip(db, tmp_path):
    records = {"records": [GATEWAY_RECORD, NATIVE_RECORD, LLM_RECORD, {**NATIVE_RECORD, "category": "Audit"}]}
    path = tmp_path / "eventhub.json.gz"
    with gzip.open(path, "wt") as stream:
        json.dump(records, stream)
    result = logs_file_import(path=path)
    assert (result.format, result.error) == ("records", "")
    # A category the portal does not read is skipped and counted, not rejected (test_ingestion_skipped).
    assert (result.stored, result.skipped, result.rejected) == (3, 1, 0)
    assert result.skipped_categories == {"Audit": 1}
    assert not RejectedRow.objects.exists()


def test_it_keeps_bad_json_lines_with_their_reason_and_goes_on(db, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        json.dumps(GATEWAY_RECORD)
        + "\n"
        + '{"category": "GatewayLogs", "time": \n'
        + "42\n"
        + json.dumps(NATIVE_RECORD)
    )
    result = logs_file_import(path=path)
    assert (result.rows_read, result.stored, result.rejected) == (4, 2, 2)
    assert result.reasons == {"invalid JSON line": 1, "not a JSON object": 1}
    assert RejectedRow.objects.filter(reason__startswith="invalid JSON line: line 2").exists()


def test_importing_the_same_files_again_changes_nothing(db, tmp_path, logs):
    json_path = _az_json(tmp_path / "a.json", logs[GATEWAY] + logs[LLM_LOG])
    csv_path = _portal_csv(tmp_path / "b.csv", logs[NATIVE])
    first = [logs_file_import(path=p) for p in (json_path, csv_path)]
    counts = _counts()
    again = [logs_file_import(path=p) for p in (json_path, csv_path)]
    assert _counts() == counts
    for before, after in zip(first, again, strict=True):
        assert after.stored == 0
        assert after.duplicates == before.stored + before.duplicates


def test_it_streams_json_across_tiny_read_chunks(db, tmp_path, logs, monkeypatch):
    monkeypatch.setattr(json_stream, "_READ_CHUNK", 7)
    path = _az_json(
        tmp_path / "small-chunks.json", logs[GATEWAY][:5] + [{"Type": GATEWAY, "TotalTime": 12345}]
    )
    result = logs_file_import(path=path)
    assert (result.stored, result.rejected, result.error) == (5, 1, "")


def test_json_stream_reads_numbers_split_across_chunks():
    reader = json_stream.JsonStream(io.StringIO('[1234567, 8.5e3 , {"a": [1,2]}]'))
    json_stream._READ_CHUNK, saved = 3, json_stream._READ_CHUNK
    try:
        assert list(reader.array_items()) == [1234567, 8500.0, {"a": [1, 2]}]
    finally:
        json_stream._READ_CHUNK = saved


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not a text file"),
        (b"hello world\nthis is not an export\n", "not a Log Analytics export"),
    ],
)
def test_it_explains_a_file_it_cannot_read(db, tmp_path, content, message):
    path = tmp_path / "bad.bin"
    path.write_bytes(content)
    result = logs_file_import(path=path)
    assert message in result.error
    assert IngestionRun.objects.get(path=str(path)).status == "failed"


def test_a_damaged_json_array_keeps_the_rows_before_the_damage(db, tmp_path, logs):
    text = json.dumps(logs[GATEWAY][:3])
    path = tmp_path / "cut.json"
    path.write_text(text[: len(text) - 40])  # cut inside the third row
    result = logs_file_import(path=path)
    assert "truncated" in result.error
    assert (result.rows_read, result.stored, result.rejected) == (3, 2, 1)
    assert result.reasons == {"truncated row at end of file": 1}
    assert IngestionRun.objects.get(path=str(path)).status == "partial"
    with pytest.raises(FileFormatError, match="cannot read"):
        file_format_detect(path=tmp_path / "missing.json")


def test_the_command_reports_each_file_and_still_imports_after_a_bad_one(db, tmp_path, logs, capsys):
    bad = tmp_path / "broken.json"
    bad.write_text("[{]")
    good = _az_json(tmp_path / "good.json", logs[GATEWAY] + [{"Type": GATEWAY, "CorrelationId": "x"}])
    missing = tmp_path / "missing.json"
    with pytest.raises(CommandError, match="2 of 3 file"):
        call_command("import_logs", str(bad), str(missing), str(good))
    out, err = capsys.readouterr()
    assert f"{bad}: error: invalid JSON at character 2" in err
    assert f"{missing}: error: no such file" in err
    assert f"{good} (az-json): 26 rows read, 25 stored, 0 duplicates skipped, 0 conflicts, 0 skipped, 1 rejected" in out
    assert "rejected 1 x TimeGenerated: missing" in out
    assert "Traceback" not in out + err
    assert GatewayRequest.objects.count() == 25


def test_the_command_succeeds_quietly_on_good_files(db, tmp_path, logs, capsys):
    path = _az_json(tmp_path / "good.json", logs[NATIVE])
    call_command("import_logs", str(path))
    out, _ = capsys.readouterr()
    assert f"{path} (az-json): {len(logs[NATIVE])} rows read, {len(logs[NATIVE])} stored" in out


def test_a_file_with_both_partners_refreshes_each_request_once(db, tmp_path, logs, monkeypatch):
    from usage.ingestion import store

    # A request is refreshed when written (requests_write) or when a partner arrives later.
    refreshed = Counter()
    real_refresh, real_write = store.requests_refresh, store.requests_write

    def counting_refresh(*, correlation_ids, **options):
        refreshed.update(correlation_ids)
        real_refresh(correlation_ids=correlation_ids, **options)

    def counting_write(*, rows, write):
        written = real_write(rows=rows, write=write)
        refreshed.update(written)
        return written

    monkeypatch.setattr(store, "requests_refresh", counting_refresh)
    monkeypatch.setattr(store, "requests_write", counting_write)
    path = _az_json(tmp_path / "both.json", logs[GATEWAY] + logs[NATIVE] + logs[LLM_LOG])
    logs_file_import(path=path)
    assert set(refreshed) == set(GatewayRequest.objects.values_list("correlation_id", flat=True))
    assert set(refreshed.values()) == {1}


def test_the_command_imports_every_file_under_a_directory(db, tmp_path, logs, capsys):
    hour = tmp_path / "insights-logs-gatewaylogs" / "y=2026" / "m=11" / "d=03" / "h=14"
    hour.mkdir(parents=True)
    with (hour / "PT1H.json").open("w") as stream:
        for row in logs[GATEWAY]:
            stream.write(json.dumps(_record(GATEWAY, row)) + "\n")
    _az_json(tmp_path / "native.json", logs[NATIVE])
    call_command("import_logs", str(tmp_path))
    out, _ = capsys.readouterr()
    assert "PT1H.json (jsonl): 25 rows read, 25 stored" in out
    assert _counts()[:2] == (25, len(logs[NATIVE]))


@pytest.mark.django_db(transaction=True)
def test_import_logs_with_two_workers_stores_what_one_process_stores(tmp_path, logs):
    """Gateway rows first in the file, so batches of the partner tables come after them: the
    workers store one table at a time, and the result is the one-process import's."""
    path = _az_json(tmp_path / "all.json", logs[GATEWAY] + logs[NATIVE] + logs[LLM_LOG])
    fields = ["correlation_id", "model", "deployment", "total_tokens", "cost", "backend_region"]

    def state():
        return sorted(GatewayRequest.objects.values_list(*fields)), _counts()

    call_command("import_logs", str(path), "--workers", "1", stdout=io.StringIO())
    one = state()
    for model in (GatewayRequest, NativeLog, LlmLogChunk):
        model.objects.all().delete()

    out = io.StringIO()
    result = logs_file_import(path=path, workers=2, batch_size=7)  # several batches per table
    assert not result.error and result.stored + result.duplicates == result.rows_read
    assert state() == one
    call_command("import_logs", str(path), "--workers", "2", stdout=out)
    assert "0 stored" in out.getvalue()  # again: all duplicates
    assert state() == one
