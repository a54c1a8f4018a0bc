"""Regions are Azure region names, whatever the source spells; never a backend host name.

The backend region of a request comes from, best first: the backend's ``x-ms-region`` header,
the joined native row's ``location``, the region learned (or edited in the admin) for the
backend host, else ``unknown``. Requests APIM answered itself are the ``gateway`` group
("APIM gateway (not sent to a backend)"). Requests without ``apim-request-id`` can never join and are counted.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse

from tests.support import accounting_samples as s
from usage.ingestion.selectors import UNJOINABLE_NOT_LOGGED, UNJOINABLE_NOT_SENT, unjoinable_counts
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY, NATIVE
from usage.latency.charts import latency_charts
from usage.latency.filters import LatencyFilters
from usage.latency.groups import NOT_SENT_GROUP, latency_rows
from usage.models import BackendHostRegion, GatewayRequest, LatencyDaily, UsageHourly
from usage.regions import (
    AZURE_REGIONS,
    REGION_NOT_SENT,
    REGION_UNKNOWN,
    backend_region_resolve,
    region_label,
    region_normalize,
)

HOUR = datetime(2026, 9, 14, 10, tzinfo=UTC)
FILTERS = LatencyFilters(start=datetime(2026, 9, 14, tzinfo=UTC), end=datetime(2026, 9, 15, tzinfo=UTC))
HOST_1 = "obs-openai-test-01.openai.azure.com"
NOT_SENT_LABEL = "APIM gateway (not sent to a backend)"
HOST_2 = "aoai-contoso-swc.openai.azure.com"
HOST_3 = "aoai-never-seen.openai.azure.com"


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("East US 2", "eastus2"),
        ("eastus2", "eastus2"),
        ("EASTUS2", "eastus2"),
        ("east-us-2", "eastus2"),
        ("east_us_2", "eastus2"),
        ("  East US  2 ", "eastus2"),
        ("Sweden Central", "swedencentral"),
        ("UK South", "uksouth"),
        ("USGov Virginia", "usgovvirginia"),
        ("Some New Region 3", "somenewregion3"),  # Azure adds regions: spelt like one, kept
        (HOST_1, ""),
        ("https://aoai.openai.azure.com/openai", ""),
        ("10.0.0.1", ""),
        ("", ""),
        (None, ""),
        (42, ""),
    ],
)
def test_region_normalize_gives_azure_region_names_whatever_the_spelling(spelling, name):
    assert region_normalize(spelling) == name


def test_every_listed_display_name_maps_to_its_region_name_and_back():
    for name, display in AZURE_REGIONS:
        assert region_normalize(display) == name
        assert region_label(name) == f"{display} ({name})"
        assert region_label(display) == f"{display} ({name})"


@pytest.mark.parametrize(
    ("stored", "label"),
    [
        ("eastus2", "East US 2 (eastus2)"),
        ("West Europe", "West Europe (westeurope)"),  # an older row holding the display name
        ("newregion2", "newregion2"),  # a region the list does not know yet: its name alone
        (REGION_NOT_SENT, "APIM gateway (not sent to a backend)"),
        (REGION_UNKNOWN, "unknown"),
        ("", "unknown"),
        (HOST_1, "unknown"),
    ],
)
def test_region_label_shows_display_and_region_names_and_the_special_groups(stored, label):
    assert region_label(stored) == label


@pytest.mark.parametrize(
    ("header", "location", "host", "sent", "expected"),
    [
        ("East US 2", "swedencentral", HOST_1, True, "eastus2"),  # the header first
        ("", "Sweden Central", HOST_1, True, "swedencentral"),  # then the native location
        ("", "", HOST_1, True, "francecentral"),  # then the learned host
        ("", "", HOST_3, True, REGION_UNKNOWN),  # else unknown, never the host
        ("", "", "", False, REGION_NOT_SENT),  # APIM answered itself
        ("not a region.example", "", HOST_1, True, "francecentral"),
    ],
)
def test_backend_region_resolve_falls_back_in_order(header, location, host, sent, expected):
    resolved = backend_region_resolve(
        header=header, native_location=location, host=host, sent=sent, host_regions={HOST_1: "francecentral"}
    )
    assert resolved == expected


# --- through ingestion -------------------------------------------------------------------------


def gateway_row(
    correlation_id: str,
    *,
    host: str | None = HOST_1,
    headers: dict | None = None,
    minute: int = 0,
    code: int = 200,
) -> dict:
    """A gateway row as Log Analytics gives it; ``host=None``: APIM answered without a backend."""
    sent = host is not None
    row = {
        "TimeGenerated": (HOUR + timedelta(minutes=minute)).isoformat(),
        "CorrelationId": correlation_id,
        "Region": "West Europe",
        "Url": s.CHAT_URL,
        "ResponseCode": code,
        "TotalTime": 120 + minute,
        "ApimSubscriptionId": "sub-regions",
        "OperationId": "ChatCompletions_Create",
        "RequestBody": s.chat_request(s.MESSAGES),
        "ResponseBody": s.chat_response(),
    }
    if sent:
        row |= {
            "BackendUrl": f"https://{host}/openai/deployments/gpt4o-prod/chat/completions",
            "BackendResponseCode": code,
            "BackendTime": 100 + minute,
            "BackendId": "aoai-backend",
        }
    if headers is not None:
        row["BackendResponseHeaders"] = json.dumps(headers)
    return row


def native_row(correlation_id: str, location: str) -> dict:
    return {
        "TimeGenerated": (HOUR + timedelta(seconds=1)).isoformat(),
        "CorrelationId": correlation_id,
        "Category": "RequestResponse",
        "ResourceProvider": "MICROSOFT.COGNITIVESERVICES",
        "OperationName": "ChatCompletions_Create",
        "DurationMs": 90,
        "location_s": location,
        "properties_s": json.dumps({"modelDeploymentName": "gpt4o-prod", "modelName": "gpt-4o"}),
    }


def apim_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


@pytest.fixture
def stored(db):
    """One request of each kind, the native rows stored before the gateway rows where they exist."""
    rows_store(
        table=NATIVE,
        rows=[native_row(apim_id(3), "francecentral"), native_row(apim_id(6), "swedencentral")],
    )
    rows_store(
        table=GATEWAY,
        rows=[
            # x-ms-region logged: the region, and HOST_1 is learned as eastus2.
            gateway_row("a-header", headers={"apim-request-id": apim_id(1), "x-ms-region": "East US 2"}),
            # Backend response headers not logged at all: HOST_1's learned region.
            gateway_row("b-no-headers", minute=1),
            # apim-request-id but no x-ms-region: the native row's location beats the host map.
            gateway_row("c-native", minute=2, headers={"apim-request-id": apim_id(3)}),
            # A host nobody learned, nothing logged: unknown.
            gateway_row("d-unknown-host", minute=3, host=HOST_3),
            # APIM's token limit answered 429 before any backend call.
            gateway_row("e-apim-429", minute=4, host=None, code=429),
            # The header wins over the native row's location.
            gateway_row(
                "f-both",
                minute=5,
                host=HOST_2,
                headers={"apim-request-id": apim_id(6), "x-ms-region": "EASTUS2"},
            ),
        ],
    )


def regions() -> dict[str, str]:
    return dict(GatewayRequest.objects.values_list("correlation_id", "backend_region"))


def test_ingestion_takes_the_region_from_header_native_row_learned_host_or_unknown(stored):
    assert regions() == {
        "a-header": "eastus2",
        "b-no-headers": "eastus2",
        "c-native": "francecentral",
        "d-unknown-host": REGION_UNKNOWN,
        "e-apim-429": REGION_NOT_SENT,
        "f-both": "eastus2",
    }
    assert set(GatewayRequest.objects.values_list("apim_region", flat=True)) == {"westeurope"}
    learned = {e.host: (e.region, e.source) for e in BackendHostRegion.objects.all()}
    assert learned == {HOST_1: ("eastus2", "learned"), HOST_2: ("eastus2", "learned")}


def test_a_late_native_row_gives_its_location_to_a_request_without_x_ms_region(db):
    rows_store(
        table=GATEWAY, rows=[gateway_row("late", host=HOST_3, headers={"apim-request-id": apim_id(9)})]
    )
    assert regions() == {"late": REGION_UNKNOWN}
    rows_store(table=NATIVE, rows=[native_row(apim_id(9), "West US 3")])
    assert regions() == {"late": "westus3"}
    assert set(UsageHourly.objects.values_list("backend_region", flat=True)) == {"westus3"}


def test_an_edited_host_region_is_used_and_never_overwritten_by_learning(db):
    BackendHostRegion.objects.create(host=HOST_3, region="japaneast", source=BackendHostRegion.Source.EDITED)
    rows_store(
        table=GATEWAY,
        rows=[
            gateway_row("x-header", host=HOST_3, headers={"x-ms-region": "East US"}),
            gateway_row("y-plain", host=HOST_3, minute=1),
        ],
    )
    assert regions() == {"x-header": "eastus", "y-plain": "japaneast"}
    assert BackendHostRegion.objects.get(host=HOST_3).region == "japaneast"


def test_latency_views_group_apim_answers_as_gateway_not_sent_and_never_by_host(stored):
    rows = latency_rows(filters=FILTERS, group_by="region")
    groups = {row.group: row for row in rows}
    assert set(groups) == {"eastus2", "francecentral", REGION_UNKNOWN, REGION_NOT_SENT}
    assert groups[REGION_NOT_SENT].label == NOT_SENT_LABEL
    assert groups[REGION_NOT_SENT].requests == 1 and groups[REGION_NOT_SENT].throttled == 1
    assert groups["eastus2"].label == "East US 2 (eastus2)" and groups["eastus2"].requests == 3
    # APIM regions (logged as display names) read the same as backend regions (region names).
    assert [r.label for r in latency_rows(filters=FILTERS, group_by="apim_region")] == [
        "West Europe (westeurope)"
    ]
    charts = latency_charts(filters=FILTERS)
    assert dict(zip(charts.regions, charts.region_labels, strict=True))[REGION_NOT_SENT] == NOT_SENT_LABEL
    assert not any("." in region for region in charts.regions)


def test_the_latency_page_shows_display_names_and_the_gateway_group(stored, client_for, finance_user):
    page = client_for(finance_user).get(reverse("usage:latency"), {"from": "2026-09-14", "to": "2026-09-14"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "East US 2 (eastus2)" in html and NOT_SENT_LABEL in html
    assert "(unknown)" not in html and HOST_1 not in html


def test_requests_apim_answered_itself_are_their_own_model_group_not_unknown(stored):
    groups = {row.group: row for row in latency_rows(filters=FILTERS, group_by="model")}
    assert groups[NOT_SENT_GROUP].requests == 1 and groups[NOT_SENT_GROUP].throttled == 1
    assert "(unknown)" not in groups


def test_the_latency_api_gives_groups_and_their_labels(stored, client_for, finance_user):
    answer = client_for(finance_user).get(
        "/api/v1/latency", {"from": "2026-09-14", "to": "2026-09-14", "group_by": "region"}
    )
    assert answer.status_code == 200
    labels = {row["group"]: row["label"] for row in answer.json()["rows"]}
    assert labels[REGION_NOT_SENT] == NOT_SENT_LABEL and labels["eastus2"] == "East US 2 (eastus2)"


# --- join keys ---------------------------------------------------------------------------------


def test_requests_without_apim_request_id_are_counted_as_unjoinable_per_reason(stored):
    # b and d were sent but logged no apim-request-id; e never reached a backend.
    assert unjoinable_counts() == {UNJOINABLE_NOT_LOGGED: 2, UNJOINABLE_NOT_SENT: 1}
    assert unjoinable_counts(since=HOUR + timedelta(minutes=2)) == {
        UNJOINABLE_NOT_LOGGED: 1,
        UNJOINABLE_NOT_SENT: 1,
    }


def test_the_ingestion_page_names_the_unjoinable_requests_and_the_diagnostic_setting_fix(
    stored, client_for, admin_user
):
    html = client_for(admin_user).get(reverse("usage:ingestion_status")).content.decode()
    assert "cannot be joined: apim-request-id not logged" in html
    assert "Headers to log" in html and "<code>apim-request-id</code>" in html
    assert 'data-reason="apim-request-id not logged"' in html


# --- stored before regions were normalised -----------------------------------------------------


def test_regions_normalize_fixes_stored_requests_and_their_rollups(stored):
    # What older versions stored: the host as the region, the display name as the APIM region.
    GatewayRequest.objects.filter(correlation_id__in=["b-no-headers", "d-unknown-host"]).update(
        backend_region=HOST_1
    )
    GatewayRequest.objects.filter(correlation_id="e-apim-429").update(backend_region="")
    GatewayRequest.objects.update(apim_region="West Europe")
    from usage.rollups.hourly import rollup_refresh_hours

    rollup_refresh_hours(hours=[HOUR])
    assert HOST_1 in set(LatencyDaily.objects.values_list("backend_region", flat=True))

    call_command("regions_normalize", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert regions()["b-no-headers"] == "eastus2"
    assert regions()["d-unknown-host"] == REGION_UNKNOWN
    assert regions()["e-apim-429"] == REGION_NOT_SENT
    assert set(GatewayRequest.objects.values_list("apim_region", flat=True)) == {"westeurope"}
    for model in (UsageHourly, LatencyDaily):
        assert set(model.objects.values_list("backend_region", flat=True)) == {
            "eastus2",
            "francecentral",
            REGION_UNKNOWN,
            REGION_NOT_SENT,
        }
    # Idempotent.
    from usage.regions.services import requests_regions_renormalize

    assert requests_regions_renormalize().changed == 0


def test_an_admin_edit_of_a_host_region_is_normalised_and_marked_edited(db, admin_user):
    from django.contrib.admin.sites import site

    admin = site._registry[BackendHostRegion]
    entry = BackendHostRegion(host=" AOAI-X.openai.azure.com ", region="North Europe")
    admin.save_model(request=None, obj=entry, form=None, change=False)
    entry.refresh_from_db()
    assert (entry.host, entry.region, entry.source) == ("aoai-x.openai.azure.com", "northeurope", "edited")
