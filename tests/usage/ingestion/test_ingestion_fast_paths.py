"""The cheaper paths of the ingestion core give exactly what the general ones give.

Each fast path is compared with the general code it skips, over a table of odd inputs and over
generated rows (``usage.demo.data``), so a fast path that reads one value differently fails here.
"""

import itertools
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from usage.accounting.parse.inputs import UsageResult
from usage.accounting.services import _apply, content_filter_json, usage_for_request
from usage.db.json import json_dumps, json_nul_escapes_drop
from usage.demo.data import generate_logs
from usage.ingestion.cells import Rejection, _datetime_parse_general, datetime_parse
from usage.ingestion.rows import (
    GatewayRow,
    NativeRow,
    gateway_row_parse,
    native_row_parse,
)
from usage.ingestion.store import _instance
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import GatewayRequest

START = datetime(2025, 3, 1, tzinfo=UTC)


def _outcome(function: Any, value: Any) -> Any:
    """What a call gives: its value (repr: the offset and type count), or its exception type."""
    try:
        return repr(function(value))
    except Exception as error:  # noqa: BLE001 - the general path may raise on extreme dates
        return type(error).__name__


def _datetime_parse_reference(value: Any) -> datetime | None:
    """``datetime_parse`` without its fast path: every text through the general reading."""
    if not isinstance(value, str):
        return datetime_parse(value)
    text = value.strip()
    parsed = _datetime_parse_general(text) if text else None
    if parsed is None:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- datetime_parse -----------------------------------------------------------------------------

ODD_TIMES = [
    "2024-07-02T06:31:31.4465902Z",  # Log Analytics: 7 digits and Z
    "2024-07-02T06:31:31.4465909999999Z",  # more digits: cut, not rounded
    "2024-07-02T06:31:31.446590Z",
    "2024-07-02T06:31:31.4Z",
    "2024-07-02T06:31:31Z",
    "2024-07-02T06:31Z",
    "2024-07-02T06Z",
    "2024-07-02T06:31:31",  # naive: read as UTC
    "2024-07-02 06:31:31.1234567",
    " 2024-07-02T06:31:31.4465902Z\n",
    "2024-07-02T06:31:31.1234567+05:30",
    "2024-07-02T06:31:31.1234567-0130",
    "2024-07-02T06:31:31+01:02:03.1234567",
    "2024-07-02T06:31:31,4465902Z",
    "2024-07-02T06:31:31.4465902z",
    "2024-07-02T06:31:31.4465902ZZ",
    "2024-07-02T06:31:31.123Z+00:00",
    "2024-07-02T24:00:00Z",
    "2024-02-30T06:31:31Z",
    "0001-01-01T00:00:00.1234567+01:00",  # out of range once in UTC
    "9999-12-31T23:59:59.9999999-01:00",
    "2024-07-02",
    "2024-07-02Z",
    "2024-07-02Z06:31:31",  # "Z" as separator: the general path refuses it
    "2024-07-02.063131456+00:00",  # "." as separator: the general path reads it differently
    "2024-07-02t06:31:31Z",
    "20240702T063131.1234567Z",
    "2024-W27-2T06:31:31Z",
    "7/2/2024, 6:31:31.446 AM",  # the portal's CSV formats
    "11/25/2026, 1:05:00 PM",
    "07/02/2024 06:31:31 AM",
    "last tuesday",
    "",
    "   ",
    "\x00",
]


@pytest.mark.parametrize("value", ODD_TIMES)
def test_datetime_parse_gives_what_the_general_path_gives(value):
    assert _outcome(datetime_parse, value) == _outcome(_datetime_parse_reference, value)


def test_datetime_parse_gives_what_the_general_path_gives_on_mutated_times():
    dates = ["2024-07-02", "20240702", "2024-W27-2", "2024-184", "0001-01-01", "9999-12-31"]
    times = ["06:31:31", "063131", "06:31", "06", "24:00:00", "23:59:60"]
    fractions = ["", ".", ".1", ".123456", ".1234567", ".123456789012", ",1234567"]
    zones = ["", "Z", "z", "ZZ", "+00:00", "-01:30", "+0130", "+01:02:03.1234567", " Z", "UTC"]
    texts = [
        date + separator + time + fraction + zone
        for date, separator, time, fraction, zone in itertools.product(
            dates, ["T", " ", "Z", "."], times, fractions, zones
        )
    ]
    rng = random.Random(7)
    for text in rng.sample(texts, 3000):
        chars = list(text)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(chars))
            chars[at : at + rng.randint(0, 1)] = rng.choice("0123456789.:-+TZz ,")
        texts.append("".join(chars))
    differ = [t for t in texts if _outcome(datetime_parse, t) != _outcome(_datetime_parse_reference, t)]
    assert differ == []


def test_datetime_parse_gives_what_the_general_path_gives_on_generated_rows():
    logs = generate_logs(start=START, end=START + timedelta(hours=2), requests_per_hour=60, seed=5)
    values = [row.get("TimeGenerated") for table in (GATEWAY, NATIVE, LLM_LOG) for row in logs[table]]
    assert any(isinstance(v, str) and v.endswith("Z") for v in values)
    assert [_outcome(datetime_parse, v) for v in values] == [
        _outcome(_datetime_parse_reference, v) for v in values
    ]


# --- JSON texts ---------------------------------------------------------------------------------

ODD_DOCUMENTS = [
    {},
    [],
    {"content-type": "application/json"},
    {"é": "naïve ✓", "emoji": "😀", "nul": "a\x00b", "lone": "x\ud800y", "sep": "\u2028"},
    {"backslash": "a\\u0000b", "quote": 'say "hi"', "control": "\t\n\x1f"},
    {"n": [0, -1, 2**70, 1.5, -0.0, 1e300, float("nan"), float("inf"), float("-inf")]},
    {1: "int key", 2.5: "float key", False: "bool key", None: "none key"},
    {"nested": [{"a": [[], {}, None, True, False]}]},
    "a string",
    12,
]


def _generated_documents() -> list[Any]:
    """Headers and native properties as the parsers give them, from generated rows."""
    logs = generate_logs(start=START, end=START + timedelta(hours=2), requests_per_hour=60, seed=5)
    documents: list[Any] = []
    for row in logs[GATEWAY]:
        record = gateway_row_parse(row)
        if isinstance(record, GatewayRow):
            documents += [record.request_headers, record.response_headers]
    for row in logs[NATIVE]:
        record = native_row_parse(row)
        if isinstance(record, NativeRow):
            documents.append(record.properties)
    return documents


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_json_dumps_gives_the_text_json_dumps_gives(ensure_ascii):
    documents = [*ODD_DOCUMENTS, *_generated_documents()]
    assert len(documents) > 200
    assert [json_dumps(d, ensure_ascii=ensure_ascii) for d in documents] == [
        json.dumps(d, ensure_ascii=ensure_ascii) for d in documents
    ]


def test_json_dumps_raises_what_json_dumps_raises():
    circular: list[Any] = []
    circular.append(circular)
    deep: list[Any] = []
    inner = deep
    for _ in range(100_000):
        inner.append([])
        inner = inner[0]
    for value in (circular, deep, {"when": datetime(2024, 1, 1)}, {(1, 2): "tuple key"}, circular):
        assert _outcome(json_dumps, value) == _outcome(json.dumps, value)
    assert json_dumps([1]) == "[1]"  # an error leaves nothing behind


def _native_row(properties: Any) -> dict[str, Any]:
    return {
        "TimeGenerated": "2024-07-02T06:31:31.4465902Z",
        "CorrelationId": "2f1c4b1e-0000-4000-8000-000000000001",
        "ResourceProvider": "MICROSOFT.COGNITIVESERVICES",
        "Category": "RequestResponse",
        "properties_s": properties,
    }


def _without_nuls(value: Any) -> Any:
    """``value`` (JSON types) with every NUL removed from its strings, keys included."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nuls(item) for item in value]
    if isinstance(value, dict):
        return {_without_nuls(key): _without_nuls(item) for key, item in value.items()}
    return value


def _properties_reference(row: dict[str, Any]) -> Any:
    """The native parse's properties without the fast path: the cell as JSON types, without NULs."""
    cell = row["properties_s"]
    properties = (json.loads(cell) if cell.strip() else None) if isinstance(cell, str) else cell
    return _without_nuls(json.loads(json.dumps(properties or {})))


NATIVE_PROPERTIES = [
    '{"modelName": "gpt-4o", "requestLength": 12}',
    '{"modelName": "gpt-4o\\u0000mini", "x": ["\\u0000"]}',  # NULs: dropped
    '{"path": "C:\\\\u0000dir", "n": 1}',  # the text "\\u0000" (a backslash, then "u0000"): kept
    '{"x": "\\\\\\u0000", "y": "\\\\\\\\u0000"}',  # a backslash and a NUL; two backslashes and "u0000"
    '{"a": NaN, "b": Infinity, "c": 1e400, "d": -0.0, "e": 12345678901234567890}',
    '{"é": "naïve", "emoji": "\\ud83d\\ude00", "lone": "\\ud800"}',
    '{"dup": 1, "dup": 2}',
    "",
    "null",
    {"modelName": "gpt-4o", "tuple": (1, 2), "nul": "a\x00b"},  # an object cell: copied
    {},
]


@pytest.mark.parametrize("properties", NATIVE_PROPERTIES)
def test_native_properties_are_what_the_general_copy_gives(properties):
    row = _native_row(properties)
    record = native_row_parse(row)
    try:
        expected = _properties_reference(row)
    except ValueError:  # the copy's text does not decode: the row is refused
        assert isinstance(record, Rejection) and record.kind == "unreadable row"
        return
    assert isinstance(record, NativeRow)
    assert repr(record.properties) == repr(expected)
    if not isinstance(properties, str):
        assert record.properties is not properties  # never the caller's object


def test_native_properties_of_generated_rows_are_what_the_general_copy_gives():
    logs = generate_logs(start=START, end=START + timedelta(hours=2), requests_per_hour=60, seed=5)
    for row in logs[NATIVE]:
        record = native_row_parse(row)
        if isinstance(record, NativeRow) and "properties_s" not in record.ingest_notes:
            assert repr(record.properties) == repr(_properties_reference(row))


CONTENT_FILTERS = [
    {},
    {"blocked": False, "filtered_categories": [], "prompt": [{"hate": {"filtered": False}}]},
    {"blocked": True, "error": {"custom": "naïve ✓ 😀", "nul": "a\x00b"}},
    {"blocked": True, "error": {"lone": "x\ud800y", "pair": "\ud83d\ude00"}},
    {"blocked": True, "error": {"control": "\t\n\x1f", "sep": "\u2028", "n": [1.5, 2**70]}},
    {"blocked": True, "error": {"text": "C:\\u0000dir", "both": "\\\x00", "key\x00": "\\\\u0000"}},
]


def _jsonb_texts(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each pair of JSON texts as PostgreSQL stores them in a jsonb column."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a::jsonb::text, b::jsonb::text FROM unnest(%s::text[], %s::text[]) AS t(a, b)",
            [[a for a, _ in pairs], [b for _, b in pairs]],
        )
        return cursor.fetchall()


def test_the_kept_content_filter_text_stores_the_jsonb_the_value_stores(db):
    now = datetime.now(UTC)
    filters = [*CONTENT_FILTERS]
    logs = generate_logs(start=START, end=START + timedelta(hours=2), requests_per_hour=60, seed=5)
    for row in logs[GATEWAY]:
        record = gateway_row_parse(row)
        if isinstance(record, GatewayRow):
            filters.append(usage_for_request(_instance(GATEWAY, record)).content_filter)
    assert sum(1 for f in filters if f) > 10
    pairs = []
    for content_filter in filters:
        request = GatewayRequest()
        _apply(request, UsageResult(content_filter=content_filter), now)
        text = content_filter_json(request)
        assert text is not None
        assert repr(json.loads(text)) == repr(request.content_filter)
        # What the ORM would have sent for the value (JSONField: json.dumps).
        pairs.append((text, json.dumps(request.content_filter)))
    assert all(kept == plain for kept, plain in _jsonb_texts(pairs))


JSON_VALUES_WITH_NULS = [
    "a\x00b",
    "C:\\u0000dir",  # no NUL: the text "\\u0000" stays
    "\\\x00",  # a backslash, then a NUL
    "\\\\u0000\x00\\\x00",
    {"k\x00ey": ["\x00", "x\\u0000", {"\\": "\\\\\x00"}]},
    ["naïve\x00", "😀", "\ud800", 1, None, True],
]


@pytest.mark.parametrize("value", JSON_VALUES_WITH_NULS)
@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_json_nul_escapes_drop_removes_nul_characters_and_nothing_else(value, ensure_ascii):
    text = json.dumps(value, ensure_ascii=ensure_ascii)
    assert json.loads(json_nul_escapes_drop(text)) == _without_nuls(value)


def test_a_content_filter_spelling_the_text_backslash_u0000_is_stored(db):
    """It crashed the batch: removing "\\u0000" from its JSON text broke the escaped backslash."""
    request = GatewayRequest()
    content_filter = {"blocked": True, "error": {"message": "C:\\u0000 and \x00"}}
    _apply(request, UsageResult(content_filter=content_filter), datetime.now(UTC))
    assert request.content_filter == {"blocked": True, "error": {"message": "C:\\u0000 and "}}
    assert json.loads(content_filter_json(request)) == request.content_filter


def test_the_kept_content_filter_text_is_not_used_for_another_value():
    request = GatewayRequest()
    _apply(request, UsageResult(content_filter={"blocked": True}), datetime.now(UTC))
    assert content_filter_json(request) == '{"blocked": true}'
    request.content_filter = {"blocked": False}
    assert content_filter_json(request) is None
    assert content_filter_json(GatewayRequest()) is None
