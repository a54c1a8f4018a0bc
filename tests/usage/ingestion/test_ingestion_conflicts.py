"""Same key, other content: a conflict (kept as evidence, merged field by field), never a silent
duplicate; whatever the order the versions come in (one batch, two batches, two files), the
stored row and what depends on it are the same, and importing again changes nothing."""

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.ingestion_rows import GATEWAY_ROW, LLM_ROW, NATIVE_ROW, NATIVE_SPARSE
from usage.ingestion.conflicts import value_merge
from usage.ingestion.files import logs_file_import
from usage.ingestion.selectors import ingestion_unmatched_counts, ingestion_unmatched_counts_scan
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import (
    GatewayRequest,
    IngestionConflict,
    IngestionRun,
    LlmLogChunk,
    NativeLog,
    UsageDaily,
    UsageHourly,
)

# Azure OpenAI may log a filled and a nearly empty RequestResponse row for one call.
NATIVE_FILLED = NATIVE_ROW
# The gateway row logged twice: once without the bodies and headers (a diagnostic setting that
# logs no payload) and 20 minutes later; the merge keeps the earlier time and the bodies.
GATEWAY_FULL = {**GATEWAY_ROW, "TimeGenerated": "2024-07-02T06:51:00Z"}
GATEWAY_BARE = {
    **GATEWAY_ROW,
    "TimeGenerated": "2024-07-02T05:59:00Z",
    "BackendResponseHeaders": "",
    "ResponseBody": "",
    "RequestBody": "",
    "TotalTime": "900",
    "ResponseCode": "",
}
LLM_FULL = LLM_ROW
LLM_SPARSE = {**LLM_ROW, "PromptTokens": "", "CompletionTokens": "", "TotalTokens": "", "ModelName": ""}

PAIRS = {
    GATEWAY: (GATEWAY_FULL, GATEWAY_BARE),
    NATIVE: (NATIVE_FILLED, NATIVE_SPARSE),
    LLM_LOG: (LLM_FULL, LLM_SPARSE),
}
MODELS = {GATEWAY: GatewayRequest, NATIVE: NativeLog, LLM_LOG: LlmLogChunk}
_NOT_COMPARED = {"id", "ingested_at", "usage_computed_at"}


def _stored():
    """Every stored row and what depends on it, comparable across runs."""

    def rows(model):
        names = [f.attname for f in model._meta.concrete_fields if f.attname not in _NOT_COMPARED]
        return sorted(json.dumps(row, default=str, sort_keys=True) for row in model.objects.values(*names))

    rollups = sorted(
        UsageHourly.objects.values_list("hour", "requests", "prompt_tokens", "completion_tokens", "cost")
    )
    daily = sorted(UsageDaily.objects.values_list("day", "requests", "prompt_tokens", "completion_tokens"))
    return {
        "requests": rows(GatewayRequest),
        "native": rows(NativeLog),
        "chunks": rows(LlmLogChunk),
        "rollups": rollups,
        "daily": daily,
        "unmatched": ingestion_unmatched_counts(),
        "evidence": sorted(IngestionConflict.objects.values_list("table", "key", "content_hash")),
    }


def _clear():
    for model in (GatewayRequest, NativeLog, LlmLogChunk, IngestionConflict, UsageHourly, UsageDaily):
        model.objects.all().delete()


def _store_versions(order: str, *, together: bool):
    """Store the three tables' two versions, first version first (``ab``) or second first (``ba``),
    in one batch per table or in two."""
    results = {}
    for table, (a, b) in PAIRS.items():
        rows = [a, b] if order == "ab" else [b, a]
        batches = [rows] if together else [[rows[0]], [rows[1]]]
        results[table] = [rows_store(table=table, rows=batch) for batch in batches]
    return results


@pytest.mark.slow
@pytest.mark.parametrize("together", [True, False], ids=["one-batch", "two-batches"])
def test_the_stored_rows_do_not_depend_on_the_order_the_versions_came_in(write_path, together):
    first = _store_versions("ab", together=together)
    ab = _stored()
    _clear()
    second = _store_versions("ba", together=together)
    assert _stored() == ab
    for results in (first, second):
        for table, batches in results.items():
            assert sum(r.conflicts for r in batches) == 1, table
            assert sum(r.stored for r in batches) == 1, table
            assert sum(r.duplicates for r in batches) == 0, table
            assert all(r.rows_read == r.accounted for r in batches)
    # Both versions are evidence, each naming the fields the versions disagree on.
    assert IngestionConflict.objects.filter(table=NATIVE).count() == 2
    evidence = IngestionConflict.objects.filter(table=NATIVE).first()
    assert {"duration_ms", "model_name", "properties"} <= set(evidence.fields)


@pytest.mark.slow
def test_the_merge_keeps_the_fuller_value_of_each_field(write_path):
    _store_versions("ba", together=False)
    native = NativeLog.objects.get()
    # Filled over empty; numbers: the larger; objects: merged key by key; times: the earlier.
    assert (native.model_name, native.model_deployment, native.duration_ms) == (
        "gpt-35-turbo",
        "gpt-chat-pilot",
        1021.0,
    )
    assert native.response_length == 1411
    assert native.properties["extra"] == "x" and native.properties["modelVersion"] == "0301"
    assert native.time == datetime(2024, 5, 24, 12, 23, 2, 435000, tzinfo=UTC)

    request = GatewayRequest.objects.get()
    assert request.time == datetime(2024, 7, 2, 5, 59, tzinfo=UTC)
    assert request.response_body == GATEWAY_ROW["ResponseBody"] and request.request_body
    assert request.apim_request_id == "d427a391-2bc7-4f38-9cbc-6560600e0981"
    assert (request.total_time_ms, request.response_code) == (900.0, 200)
    # Usage was recomputed from the merged row: the tokens of the response body.
    assert (request.prompt_tokens, request.completion_tokens) == (14, 8)

    chunk = LlmLogChunk.objects.get()
    assert (chunk.prompt_tokens, chunk.model_name) == (14, "gpt-4o-2024-11-20")


def test_a_changed_request_moves_its_rollup_contribution(write_path):
    rows_store(table=GATEWAY, rows=[GATEWAY_FULL])
    assert list(UsageHourly.objects.values_list("hour", "requests", "prompt_tokens")) == [
        (datetime(2024, 7, 2, 6, tzinfo=UTC), 1, 14)
    ]
    result = rows_store(table=GATEWAY, rows=[GATEWAY_BARE])  # logged earlier: 05:59
    assert (result.conflicts, result.correlation_ids) == (1, {"99789635-18d0-480f-8182-a3a3c477a6a4"})
    assert list(UsageHourly.objects.values_list("hour", "requests", "prompt_tokens")) == [
        (datetime(2024, 7, 2, 5, tzinfo=UTC), 1, 14)
    ]
    assert sum(UsageDaily.objects.values_list("requests", flat=True)) == 1
    assert ingestion_unmatched_counts() == ingestion_unmatched_counts_scan()


def test_a_filled_version_after_a_bare_one_fills_the_request_and_its_usage(write_path):
    rows_store(table=GATEWAY, rows=[GATEWAY_BARE])
    request = GatewayRequest.objects.get()
    assert (request.apim_request_id, request.prompt_tokens) == ("", 0)
    rows_store(table=NATIVE, rows=[NATIVE_FILLED])  # nothing to join yet: no apim-request-id
    assert ingestion_unmatched_counts()[NATIVE] == 1
    rows_store(table=GATEWAY, rows=[GATEWAY_FULL])
    request.refresh_from_db()
    assert request.apim_request_id and (request.prompt_tokens, request.completion_tokens) == (14, 8)
    assert sum(UsageHourly.objects.values_list("prompt_tokens", flat=True)) == 14
    # Now joined: neither the request nor the native row waits any more.
    assert (
        ingestion_unmatched_counts()
        == ingestion_unmatched_counts_scan()
        == {
            GATEWAY: 0,
            NATIVE: 0,
            LLM_LOG: 0,
        }
    )


def test_importing_any_version_again_is_a_duplicate_and_adds_no_evidence(write_path):
    _store_versions("ab", together=False)
    stored = _stored()
    for table, (a, b) in PAIRS.items():
        again = rows_store(table=table, rows=[a, b, b])
        assert (again.stored, again.conflicts, again.duplicates) == (0, 0, 3), table
    assert _stored() == stored
    # A third version is one more conflict.
    third = rows_store(table=NATIVE, rows=[{**NATIVE_SPARSE, "DurationMs": "5"}])
    assert (third.conflicts, IngestionConflict.objects.filter(table=NATIVE).count()) == (1, 3)
    assert NativeLog.objects.get().duration_ms == 1021.0  # the larger stays


def test_a_row_stored_before_content_hashes_is_compared_by_content(write_path):
    rows_store(table=NATIVE, rows=[NATIVE_FILLED])
    NativeLog.objects.update(content_hash="")
    again = rows_store(table=NATIVE, rows=[NATIVE_FILLED])
    assert (again.duplicates, again.conflicts) == (1, 0)
    assert NativeLog.objects.get().content_hash  # given its hash: the next re-import is cheap
    other = rows_store(table=NATIVE, rows=[NATIVE_SPARSE])
    assert other.conflicts == 1 and IngestionConflict.objects.count() == 2


def test_versions_in_two_files_give_the_same_rows_whatever_the_file_order(db, tmp_path):
    paths = []
    for n, version in enumerate((0, 1)):
        path = tmp_path / f"export-{n}.json"
        path.write_text(json.dumps([PAIRS[table][version] | {"Type": table} for table in PAIRS]))
        paths.append(path)
    forward = [logs_file_import(path=path) for path in paths]
    stored = _stored()
    _clear()
    backward = [logs_file_import(path=path) for path in reversed(paths)]
    assert _stored() == stored
    for results in (forward, backward):
        assert (results[0].stored, results[0].conflicts) == (3, 0)
        assert (results[1].stored, results[1].conflicts, results[1].duplicates) == (0, 3, 0)
    run = IngestionRun.objects.latest("id")
    assert run.conflicts == 3 and {table: c["conflicts"] for table, c in run.tables.items()} == {
        GATEWAY: 1,
        NATIVE: 1,
        LLM_LOG: 1,
    }
    again = logs_file_import(path=paths[0])
    assert (again.stored, again.conflicts, again.duplicates) == (0, 0, 3)


def test_prompt_text_is_not_kept_in_the_evidence(write_path):
    _store_versions("ab", together=True)
    evidence = IngestionConflict.objects.filter(table=GATEWAY)
    assert evidence.count() == 2
    shown = json.dumps(list(evidence.values_list("record", flat=True)))
    assert "capital of tamilnadu" not in shown and "Chennai" not in shown
    assert "characters, sha256" in shown


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from([0.5, 2.0, -1.5]) | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=2), children, max_size=3)
    ),
    max_leaves=8,
)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, derandomize=True)
@given(_JSON, _JSON, _JSON)
def test_the_merge_of_values_does_not_depend_on_their_order(a, b, c):
    assert value_merge(a, b) == value_merge(b, a)
    assert value_merge(value_merge(a, b), c) == value_merge(a, value_merge(b, c))
    assert value_merge(value_merge(a, b), a) == value_merge(a, b)


def test_a_version_another_writer_stored_meanwhile_is_a_conflict_too(write_path, monkeypatch):
    from usage.ingestion import conflicts

    rows_store(table=NATIVE, rows=[NATIVE_SPARSE])
    lookup = conflicts.stored_hashes
    calls = []

    def late_lookup(table, keys):  # the first lookup does not see the other writer's row yet
        calls.append(keys)
        return {} if len(calls) == 1 else lookup(table, keys)

    monkeypatch.setattr(conflicts, "stored_hashes", late_lookup)
    result = rows_store(table=NATIVE, rows=[NATIVE_FILLED])
    assert (result.stored, result.duplicates, result.conflicts, result.rejected) == (0, 0, 1, 0)
    assert NativeLog.objects.get().model_name == "gpt-35-turbo"
    assert IngestionConflict.objects.count() == 2
