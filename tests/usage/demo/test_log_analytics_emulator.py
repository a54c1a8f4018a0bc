"""The emulator speaks the Log Analytics query API as the SDK expects it (checked over raw HTTP)."""

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from usage.demo.emulator import LogAnalyticsEmulator
from usage.demo.kql import parse_query
from usage.ingestion.log_analytics_query import table_query
from usage.ingestion.tables import GATEWAY, NATIVE

T0 = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def server():
    with LogAnalyticsEmulator() as emulator:
        emulator.add_rows(
            GATEWAY,
            [
                {
                    "TimeGenerated": T0 + timedelta(minutes=m),
                    "CorrelationId": f"c{m}",
                    "ResponseCode": 200,
                    "TotalTime": 12,
                    "IsRequestSuccess": True,
                    "BackendResponseHeaders": {"apim-request-id": f"n{m}"},
                }
                for m in range(10)
            ],
        )
        yield emulator


def post(server, body, *, token="Bearer anything"):
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/v1/workspaces/ws/query",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **({"Authorization": token} if token else {})},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def window(server, start, end, **extra):
    return post(
        server,
        {
            "query": table_query(table=GATEWAY, start=start, end=end),
            "timespan": f"{start:%Y-%m-%dT%H:%M:%S.000Z}/{end:%Y-%m-%dT%H:%M:%S.000Z}",
            **extra,
        },
    )


def test_it_answers_typed_columns_and_a_half_open_window(server):
    status, _, body = window(server, T0 + timedelta(minutes=2), T0 + timedelta(minutes=5))
    assert status == 200
    table = body["tables"][0]
    assert table["name"] == "PrimaryResult"
    types = {column["name"]: column["type"] for column in table["columns"]}
    assert types["TimeGenerated"] == "datetime" and types["ResponseCode"] == "int"
    assert types["TotalTime"] == "long" and types["IsRequestSuccess"] == "bool"
    assert types["BackendResponseHeaders"] == "dynamic"
    names = [column["name"] for column in table["columns"]]
    rows = [dict(zip(names, row, strict=True)) for row in table["rows"]]
    assert [row["CorrelationId"] for row in rows] == ["c2", "c3", "c4"]  # 08:05 itself is excluded
    assert rows[0]["TimeGenerated"] == "2026-10-01T08:02:00.0000000Z"
    assert json.loads(rows[0]["BackendResponseHeaders"]) == {"apim-request-id": "n2"}  # dynamic as JSON text


def test_it_answers_the_partial_error_form_past_its_row_limit(server):
    server.row_limit = 4
    status, _, body = window(server, T0, T0 + timedelta(hours=1))
    assert status == 200
    assert len(body["tables"][0]["rows"]) == 4
    assert body["error"]["code"] == "PartialError"
    assert "E_QUERY_RESULT_SET_TOO_LARGE" in body["error"]["details"][0]["innererror"]["message"]


def test_it_throttles_with_retry_after_once_when_told(server):
    server.fail_next("throttle", retry_after=7)
    status, headers, body = window(server, T0, T0 + timedelta(hours=1))
    assert status == 429 and headers["Retry-After"] == "7" and body["error"]["code"] == "ThrottledError"
    assert window(server, T0, T0 + timedelta(hours=1))[0] == 200


def test_it_requires_a_bearer_token_but_accepts_any(server):
    assert window(server, T0, T0 + timedelta(hours=1))[0] == 200
    status, _, body = post(server, {"query": GATEWAY}, token=None)
    assert status == 401 and body["error"]["code"] == "AuthorizationRequiredError"


def test_it_refuses_kql_it_does_not_understand(server):
    status, _, body = post(server, {"query": f"{GATEWAY} | summarize count() by bin(TimeGenerated, 1h)"})
    assert status == 400 and "summarize" in body["error"]["innererror"]["message"]


def test_it_hides_rows_until_their_arrival_delay_passed():
    now = datetime.now(UTC)
    with LogAnalyticsEmulator(arrival_delay=timedelta(minutes=5)) as emulator:
        emulator.add_rows(
            GATEWAY,
            [{"TimeGenerated": now - timedelta(minutes=m), "CorrelationId": f"c{m}"} for m in (1, 10)],
        )
        status, _, body = post(emulator, {"query": GATEWAY, "timespan": "PT3600.0S"})
    assert status == 200
    assert [row[1] for row in body["tables"][0]["rows"]] == ["c10"]


def test_it_parses_the_query_the_pull_sends_for_native_logs():
    parsed = parse_query(table_query(table=NATIVE, start=T0, end=T0 + timedelta(hours=1)))
    assert parsed.table == NATIVE
    assert (parsed.start, parsed.end, parsed.end_inclusive) == (T0, T0 + timedelta(hours=1), False)
    assert parsed.equals == {"ResourceProvider": "MICROSOFT.COGNITIVESERVICES", "Category": "RequestResponse"}
    assert parsed.order == ("TimeGenerated", False)
