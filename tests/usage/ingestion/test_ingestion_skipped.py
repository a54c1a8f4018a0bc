"""Records of categories and tables the portal does not read are skipped and counted per category
(not rejected), and /ingestion/ shows, per table, what became of every row read."""

import json

from django.template.loader import render_to_string
from django.urls import reverse

from tests.support.ingestion_rows import GATEWAY_RECORD, NATIVE_RECORD, NATIVE_ROW, NATIVE_SPARSE
from usage.ingestion.files import logs_file_import
from usage.ingestion.status import ingestion_table_accounts
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import IngestionRun, NativeLog, RejectedRow

# What a Storage account or Event Hub receives from a diagnostic setting sending every category.
AUDIT_RECORD = {
    **NATIVE_RECORD,
    "category": "Audit",
    "correlationId": "a1",
    "operationName": "ListKey",
    "properties": "{}",
}
TRACE_RECORD = {
    "time": "2024-04-08T12:23:03Z",
    "resourceId": NATIVE_RECORD["resourceId"],
    "category": "Trace",
    "operationName": "Microsoft.CognitiveServices/accounts/Trace",
    "properties": {"message": "model load"},
}


def test_a_records_file_counts_other_categories_as_skipped(db, tmp_path):
    path = tmp_path / "PT1H.json"
    records = [GATEWAY_RECORD, NATIVE_RECORD, AUDIT_RECORD, TRACE_RECORD, {**TRACE_RECORD, "time": "x"}]
    path.write_text(json.dumps({"records": records}))
    result = logs_file_import(path=path)
    assert (result.rows_read, result.stored, result.skipped, result.rejected) == (5, 2, 3, 0)
    assert result.skipped_categories == {"Audit": 1, "Trace": 2}
    assert result.rows_read == result.stored + result.duplicates + result.conflicts + result.skipped
    assert not RejectedRow.objects.exists()
    run = IngestionRun.objects.get()
    assert (run.skipped, run.skipped_categories) == (3, {"Audit": 1, "Trace": 2})
    assert run.tables[""]["skipped_categories"] == {"Audit": 1, "Trace": 2}
    assert run.tables[NATIVE]["stored"] == run.tables[GATEWAY]["stored"] == 1


def test_log_analytics_rows_of_other_tables_categories_and_providers_are_skipped(db, tmp_path):
    rows = [
        {**NATIVE_ROW, "Type": "AzureDiagnostics"},
        {**NATIVE_ROW, "Type": "AzureDiagnostics", "CorrelationId": "b1", "Category": "Audit"},
        {
            **NATIVE_ROW,
            "Type": "AzureDiagnostics",
            "CorrelationId": "b2",
            "ResourceProvider": "MICROSOFT.KEYVAULT",
            "Category": "AuditEvent",
        },
        {"Type": "AppRequests", "TimeGenerated": "2024-05-24T12:00:00Z", "Name": "GET /"},
        {"TimeGenerated": "2024-05-24T12:00:00Z", "Something": "else"},  # no table at all: rejected
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(rows))
    result = logs_file_import(path=path)
    assert (result.stored, result.skipped, result.rejected) == (1, 3, 1)
    assert result.skipped_categories == {"Audit": 1, "MICROSOFT.KEYVAULT AuditEvent": 1, "AppRequests": 1}
    assert result.tables[NATIVE].skipped_categories == {"Audit": 1, "MICROSOFT.KEYVAULT AuditEvent": 1}
    assert list(RejectedRow.objects.values_list("reason", flat=True)) == [
        "unknown table: columns Something, TimeGenerated"
    ]


def test_rows_store_skips_azure_diagnostics_rows_of_other_categories(db):
    result = rows_store(
        table=NATIVE, rows=[NATIVE_ROW, {**NATIVE_ROW, "CorrelationId": "c", "Category": "Trace"}]
    )
    assert (result.rows_read, result.stored, result.skipped, result.rejected) == (2, 1, 1, 0)
    assert result.skipped_categories == {"Trace": 1} and result.accounted == 2
    assert NativeLog.objects.count() == 1


def test_the_ingestion_page_shows_every_row_read_per_table(client_for, admin_user, tmp_path):
    path = tmp_path / "PT1H.json"
    records = [GATEWAY_RECORD, NATIVE_RECORD, AUDIT_RECORD, TRACE_RECORD, {**GATEWAY_RECORD, "time": "never"}]
    path.write_text(json.dumps({"records": records}))
    logs_file_import(path=path)
    logs_file_import(path=path)  # again: duplicates
    rows_store(table=NATIVE, rows=[NATIVE_ROW])  # a pull-like store, not a run: not counted
    conflicting = tmp_path / "conflict.json"
    conflicting.write_text(json.dumps([NATIVE_ROW | {"Type": NATIVE}, NATIVE_SPARSE | {"Type": NATIVE}]))
    logs_file_import(path=conflicting)

    accounts = {account.table: account for account in ingestion_table_accounts()}
    native, gateway, other = accounts[NATIVE], accounts[GATEWAY], accounts[""]
    assert (native.rows_read, native.stored, native.duplicates, native.conflicts) == (4, 1, 2, 1)
    assert (gateway.rows_read, gateway.stored, gateway.duplicates, gateway.rejected) == (4, 1, 1, 2)
    assert gateway.reasons == {"TimeGenerated: not a datetime": 2}
    assert (other.skipped, other.skipped_categories) == (4, {"Audit": 2, "Trace": 2})
    assert accounts[LLM_LOG].rows_read == 0

    page = client_for(admin_user).get(reverse("usage:ingestion_status")).content.decode()
    section = page[page.index('id="accounting"') : page.index("Rejected rows by reason")]
    assert 'data-account="AzureDiagnostics"' in section and 'data-account="none"' in section
    assert "Audit: 2" in section and "Trace: 2" in section
    assert "TimeGenerated: not a datetime: 2" in section
    assert '<span class="badge warn">1</span>' in section  # the conflict
    assert "(routed to no table)" in section


def test_the_page_has_a_slot_for_rows_that_cannot_be_joined(db):
    accounts = ingestion_table_accounts()
    context = {"tables": [], "accounts": accounts, "rejections": [], "runs": [], "unmatched_days": 7}
    html = render_to_string(
        "usage/ingestion_status.html", {**context, "unjoinable": "12 (apim-request-id not logged)"}
    )
    assert '<td class="unjoinable">12 (apim-request-id not logged)</td>' in html
    assert "12 (apim" not in render_to_string("usage/ingestion_status.html", context)


def test_pulled_windows_count_in_the_per_table_totals(db, emulator):
    from tests.support.log_analytics_fixtures import END, START
    from usage.ingestion.log_analytics import log_analytics_pull
    from usage.models import GatewayRequest

    log_analytics_pull(since=START, until=END)
    log_analytics_pull(since=START, until=END)  # nothing new: the watermark is at END
    accounts = {account.table: account for account in ingestion_table_accounts()}
    gateway = accounts[GATEWAY]
    assert gateway.stored == GatewayRequest.objects.count() > 0
    assert gateway.rows_read == gateway.stored + gateway.duplicates + gateway.conflicts + gateway.rejected
    assert sum(gateway.reasons.values()) == gateway.rejected
    assert accounts[NATIVE].stored == NativeLog.objects.count()
