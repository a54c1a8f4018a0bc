"""Secrets in logged headers are never stored: ingestion keeps that the header was there (and its
scheme), never its value; rate-limit headers are data and stay; a migration scrubs older rows."""

import hashlib
import json

import pytest

from tests.support.ingestion_rows import GATEWAY_ROW, NATIVE_ROW
from usage.ingestion.credentials import (
    REDACTED,
    header_name_is_credential,
    headers_scrub,
    raw_text_scrub,
)
from usage.ingestion.credentials_stored import credentials_stored_scrub
from usage.ingestion.rows import gateway_row_parse
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY, NATIVE
from usage.models import GatewayRequest, NativeLog, RejectedRow

SECRET = "sk-live-0123456789abcdef"

CREDENTIAL_HEADERS = {
    "api-key": SECRET,
    "Authorization": f"Bearer {SECRET}",
    "Ocp-Apim-Subscription-Key": SECRET,
    "Cookie": f"session={SECRET}; theme=dark",
    "Proxy-Authorization": f"Basic {SECRET}",
    "x-functions-key": SECRET,
    "x-api-key": SECRET,
    "X-Client-Secret": SECRET,
    "x-amz-signature": SECRET,
    "x-ms-token-aad-access-token": SECRET,
    "x-csrf-token": SECRET,
}
DATA_HEADERS = {
    "x-ratelimit-remaining-tokens": "119978",
    "x-ratelimit-remaining-requests": "119",
    "x-ratelimit-limit-tokens": "120000",
    "apim-request-id": "d427a391-2bc7-4f38-9cbc-6560600e0981",
    "x-ms-region": "East US",
    "content-type": "application/json",
    "retry-after-ms": "10",
    "x-request-id": "abc",
    "consumed-tokens": "22",
    "remaining-tokens": "1000",
}


@pytest.mark.parametrize("name", sorted(CREDENTIAL_HEADERS) + ["Set-Cookie", "KEY", "x-password"])
def test_credential_header_names_are_recognised(name):
    assert header_name_is_credential(name)


@pytest.mark.parametrize("name", sorted(DATA_HEADERS) + ["x-ms-client-request-id", "user-agent", "host"])
def test_data_header_names_are_not_credentials(name):
    assert not header_name_is_credential(name)


def test_the_marker_keeps_the_scheme_and_scrubbing_twice_changes_nothing():
    scrubbed = headers_scrub({"authorization": f"Bearer {SECRET}", "api-key": SECRET, "cookie": "a=b; c=d"})
    assert scrubbed == {
        "authorization": f"Bearer {REDACTED}",
        "api-key": REDACTED,
        "cookie": REDACTED,
    }
    assert headers_scrub(scrubbed) == scrubbed
    assert headers_scrub({"api-key": ""}) == {"api-key": ""}  # nothing to hide
    untouched = {"x-ratelimit-remaining-tokens": "5"}
    assert headers_scrub(untouched) is untouched  # the hot path copies nothing when there is nothing


def _gateway_row(correlation_id: str) -> dict:
    # The four header columns in the shapes Log Analytics and diagnostic records use: JSON text,
    # an object, a list of name/value pairs.
    return {
        **GATEWAY_ROW,
        "CorrelationId": correlation_id,
        "RequestHeaders": json.dumps(CREDENTIAL_HEADERS),
        "BackendRequestHeaders": [{"name": "api-key", "value": SECRET}, {"name": "x-trace", "value": "t"}],
        "ResponseHeaders": {"Set-Cookie": [f"a={SECRET}; Path=/", "b=2"]},
        "BackendResponseHeaders": json.dumps(DATA_HEADERS),
    }


def test_the_parser_redacts_credential_headers_and_keeps_rate_limit_ones():
    row = gateway_row_parse(_gateway_row("p-1"))
    assert SECRET not in json.dumps([row.request_headers, row.response_headers])
    assert row.request_headers["authorization"] == f"Bearer {REDACTED}"
    assert row.request_headers["proxy-authorization"] == f"Basic {REDACTED}"
    assert row.request_headers["api-key"] == REDACTED
    assert row.request_headers["x-trace"] == "t"
    assert row.response_headers["set-cookie"] == REDACTED
    for name, value in DATA_HEADERS.items():
        assert row.response_headers[name] == value
    assert row.ratelimit_remaining_tokens == 119978
    assert row.apim_request_id == "d427a391-2bc7-4f38-9cbc-6560600e0981"


@pytest.mark.django_db
def test_ingestion_stores_no_credential_header_value():
    result = rows_store(table=GATEWAY, rows=[_gateway_row("s-1"), _gateway_row("s-2")])
    assert result.stored == 2
    for stored in GatewayRequest.objects.all():
        assert SECRET not in json.dumps([stored.request_headers, stored.response_headers])
        for name in CREDENTIAL_HEADERS:
            assert stored.request_headers[name.lower()] in (
                REDACTED,
                f"Bearer {REDACTED}",
                f"Basic {REDACTED}",
            )
        assert stored.response_headers["x-ratelimit-remaining-tokens"] == "119978"
        assert stored.ratelimit_remaining_tokens == 119978
        assert stored.request_body == GATEWAY_ROW["RequestBody"]  # prompt text is not touched


@pytest.mark.django_db
def test_native_properties_keep_no_credential():
    properties = json.loads(NATIVE_ROW["properties_s"]) | {"api-key": SECRET}
    rows_store(table=NATIVE, rows=[{**NATIVE_ROW, "properties_s": json.dumps(properties)}])
    stored = NativeLog.objects.get()
    assert stored.properties["api-key"] == REDACTED
    assert stored.properties["modelName"] == properties["modelName"]


@pytest.mark.django_db
def test_a_rejected_row_is_kept_without_its_credentials_under_the_fingerprint_of_the_row():
    bad = {**_gateway_row("r-1"), "TimeGenerated": "0001-01-01T00:00:00Z", "RequestBody": f"my key is {SECRET}"}
    rows_store(table=GATEWAY, rows=[bad])
    rejected = RejectedRow.objects.get()
    assert rejected.reason.startswith("TimeGenerated: out of range")
    # The headers are redacted; a secret pasted into the prompt stays (the review flags it).
    assert rejected.raw.count(SECRET) == 1 and f"my key is {SECRET}" in rejected.raw
    original = json.dumps(bad, default=str, sort_keys=True)
    assert rejected.fingerprint == hashlib.sha256(f"{GATEWAY}\n{original}".encode()).hexdigest()
    rows_store(table=GATEWAY, rows=[bad])
    assert RejectedRow.objects.count() == 1


@pytest.mark.django_db
def test_unreadable_headers_are_not_echoed_into_the_note():
    rows_store(table=GATEWAY, rows=[{**GATEWAY_ROW, "RequestHeaders": f"api-key: {SECRET}"}])
    assert not RejectedRow.objects.exists()
    stored = GatewayRequest.objects.get()
    assert stored.request_headers == {}
    assert "RequestHeaders" in stored.ingest_notes and SECRET not in stored.ingest_notes


def test_raw_text_that_is_not_json_is_scrubbed_pair_by_pair():
    text = (
        '{"RequestHeaders": "{\\"api-key\\": \\"'
        + SECRET
        + '\\", \\"x-ratelimit-remaining-tokens\\": \\"5\\"}", '
        '"Authorization": "Bearer ' + SECRET + '", "RequestBody": "cut'
    )
    scrubbed = raw_text_scrub(text)
    assert SECRET not in scrubbed
    assert (
        '\\"api-key\\": \\"[redacted]\\"' in scrubbed and '"Authorization": "Bearer [redacted]"' in scrubbed
    )
    assert '\\"x-ratelimit-remaining-tokens\\": \\"5\\"' in scrubbed
    assert (
        raw_text_scrub("api-key: abc\r\nx-ms-region: East US")
        == "api-key: [redacted]\r\nx-ms-region: East US"
    )


@pytest.mark.django_db
def test_the_migration_scrubs_rows_stored_before_and_a_second_run_changes_nothing():
    from django.utils import timezone

    now = timezone.now()
    clean = GatewayRequest.objects.create(
        correlation_id="m-0", time=now, request_headers={"x-ms-region": "East US"}
    )
    dirty = GatewayRequest.objects.create(
        correlation_id="m-1",
        time=now,
        request_headers={"authorization": f"Bearer {SECRET}", "ocp-apim-subscription-key": SECRET},
        response_headers={"set-cookie": SECRET, "x-ratelimit-remaining-tokens": "7"},
        request_body=f"the key {SECRET}",
    )
    native = NativeLog.objects.create(correlation_id="n-1", time=now, properties={"api-key": SECRET, "a": 1})
    json_raw = json.dumps(
        {"RequestHeaders": json.dumps({"api-key": SECRET}), "CorrelationId": "x"}, sort_keys=True
    )
    text_raw = 'truncated {"Ocp-Apim-Subscription-Key": "' + SECRET + '", "x'
    rejected = [
        RejectedRow.objects.create(source=GATEWAY, reason="r", raw=raw, fingerprint=str(number) * 64)
        for number, raw in enumerate([json_raw, text_raw])
    ]

    changed = credentials_stored_scrub(
        gateway_model=GatewayRequest, native_model=NativeLog, rejected_model=RejectedRow, batch_size=1
    )
    assert changed == {"gateway": 1, "native": 1, "rejected": 2}
    dirty.refresh_from_db()
    assert dirty.request_headers == {
        "authorization": f"Bearer {REDACTED}",
        "ocp-apim-subscription-key": REDACTED,
    }
    assert dirty.response_headers == {"set-cookie": REDACTED, "x-ratelimit-remaining-tokens": "7"}
    assert dirty.request_body == f"the key {SECRET}"
    clean.refresh_from_db()
    assert clean.request_headers == {"x-ms-region": "East US"}
    native.refresh_from_db()
    assert native.properties == {"api-key": REDACTED, "a": 1}
    for row, number in zip(rejected, range(2), strict=True):
        row.refresh_from_db()
        assert SECRET not in row.raw
        assert row.fingerprint == str(number) * 64
    assert json.loads(json.loads(rejected[0].raw)["RequestHeaders"]) == {"api-key": REDACTED}

    again = credentials_stored_scrub(
        gateway_model=GatewayRequest, native_model=NativeLog, rejected_model=RejectedRow
    )
    assert again == {"gateway": 0, "native": 0, "rejected": 0}


@pytest.mark.django_db
def test_the_request_page_shows_the_redacted_marker_as_it_is(client_for, reviewer_user):
    from tests.factories import chat_request_create

    request = chat_request_create("page-1")
    request.request_headers = {"authorization": f"Bearer {REDACTED}", "x-api-key": SECRET}
    request.save(update_fields=["request_headers"])
    body = client_for(reviewer_user).get(f"/requests/{request.correlation_id}/").content.decode()
    assert f"Bearer {REDACTED}" in body
    assert SECRET not in body  # a value stored unredacted is still masked on the page


@pytest.mark.django_db(transaction=True)
def test_the_data_migration_scrubs_stored_rows():
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader
    from django.utils import timezone

    from tests.support.migrations_replay import migration_replay

    loader = MigrationLoader(connection)
    name = next(n for app, n in loader.disk_migrations if app == "usage" and n.endswith("_scrub_credentials"))
    before = next(dep for app, dep in loader.disk_migrations["usage", name].dependencies if app == "usage")
    stored = GatewayRequest.objects.create(
        correlation_id="mig-1", time=timezone.now(), request_headers={"api-key": SECRET}
    )
    migration_replay("usage", before=before, migration=name)
    stored.refresh_from_db()
    assert stored.request_headers == {"api-key": REDACTED}
