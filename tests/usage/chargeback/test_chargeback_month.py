"""A generated month: pages, CSV, XLSX and API agree with the answer computed from the raw rows."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from openpyxl import load_workbook

from tests.support.chargeback_data import (
    BEGIN,
    END,
    MICRO,
    cents,
    cost_center_of,
    expected_texts,
    page_table,
    world_build,
)
from tests.support.module_rows import module_rows
from usage.chargeback.scope import EVERY_COST_CENTER
from usage.chargeback.selectors.lines import usage_lines
from usage.measures import CHARGEBACK_MEASURES
from usage.models import GatewayRequest

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The generated month (``world_build``), built once for the module; each test's changes are
    undone (module rows)."""
    with module_rows(django_db_blocker):
        yield world_build()


def by_cost_center(row: dict) -> str:
    return cost_center_of(row["apim_subscription_id"], row["product_id"])


@pytest.mark.slow
def test_the_month_page_shows_each_cost_center_to_the_cent(world, client_for, finance_user):
    html = client_for(finance_user).get("/chargeback/?month=2026-10").content.decode()
    table = page_table(html, "chargeback-rows")
    expected = world.expected(by_cost_center)
    assert set(table) - {"(total)"} == set(expected) == {"RND", "FIN", "OPS", ""}
    for group, measures in expected.items():
        assert table[group] == expected_texts(measures), group
    assert table["(total)"] == expected_texts(world.total())
    # The headline card shows the same grand total, with the currency.
    assert f"USD {expected_texts(world.total())['cost']}" in html


@pytest.mark.slow
def test_rows_link_to_the_level_below_and_drill_down_to_days(world, client_for, finance_user):
    client = client_for(finance_user)
    html = client.get("/chargeback/?month=2026-10").content.decode()
    assert 'href="/chargeback/?month=2026-10&amp;cost_center=RND"' in html

    html = client.get("/chargeback/?month=2026-10&cost_center=RND").content.decode()
    table = page_table(html, "chargeback-rows")
    in_rnd = [r for r in world.rows if by_cost_center(r) == "RND"]
    expected = world.expected(lambda r: r["apim_subscription_id"] if r in in_rnd else None)
    expected.pop(None, None)
    # sub-bravo is in prod-shared (RND) but its own assignment puts it in FIN.
    assert set(table) - {"(total)"} == set(expected) == {"sub-alpha", "sub-charlie"}
    for group, measures in expected.items():
        assert table[group] == expected_texts(measures)
    assert 'href="/chargeback/?month=2026-10&amp;cost_center=RND&amp;subscription=sub-alpha"' in html

    html = client.get("/chargeback/?month=2026-10&cost_center=RND&subscription=sub-alpha").content.decode()
    table = page_table(html, "chargeback-rows")
    mine = [r for r in in_rnd if r["apim_subscription_id"] == "sub-alpha"]
    expected = world.expected(lambda r: f"{r['deployment']}/{r['model']}" if r in mine else None)
    expected.pop(None, None)
    assert set(table) - {"(total)"} == set(expected)
    for group, measures in expected.items():
        assert table[group] == expected_texts(measures)
    assert "subscription=sub-alpha&amp;deployment=chat-prod&amp;model=gpt-4o" in html

    url = (
        "/chargeback/?month=2026-10&cost_center=RND&subscription=sub-alpha&deployment=chat-prod&model=gpt-4o"
    )
    table = page_table(client.get(url).content.decode(), "chargeback-rows")
    daily = [r for r in mine if r["deployment"] == "chat-prod"]
    expected = world.expected(lambda r: r["time"].date().isoformat() if r in daily else None)
    expected.pop(None, None)
    assert expected and set(table) - {"(total)"} == set(expected)
    for group, measures in expected.items():
        assert table[group] == expected_texts(measures)


@pytest.mark.slow
def test_unassigned_usage_is_listed_with_its_subscriptions_and_totals_add_up(world, client_for, finance_user):
    data = client_for(finance_user).get("/api/v1/chargeback?month=2026-10&group_by=cost_center").json()
    unassigned = next(row for row in data["rows"] if row["group"] == "")
    assert unassigned["label"] == "Unassigned"
    assert unassigned["subscription_ids"] == ["sub-foxtrot", "sub-golf"]
    for name in CHARGEBACK_MEASURES:
        summed = sum(Decimal(row[name]) if name == "cost" else row[name] for row in data["rows"])
        total = Decimal(data["totals"][name]) if name == "cost" else data["totals"][name]
        assert summed == total, name
    assert Decimal(data["totals"]["cost"]) == world.total()["cost"]


GROUP_KEYS = {
    "cost_center": by_cost_center,
    "subscription": lambda r: r["apim_subscription_id"],
    "deployment": lambda r: r["deployment"],
    "model": lambda r: r["model"],
}


@pytest.mark.slow
def test_the_api_agrees_with_the_generated_data_for_every_grouping(world, client_for, finance_user):
    client = client_for(finance_user)
    for group_by, key in GROUP_KEYS.items():
        response = client.get(f"/api/v1/chargeback?month=2026-10&group_by={group_by}")
        assert response.status_code == 200
        data = response.json()
        assert data["month"] == "2026-10" and data["currency"] == "USD" and data["group_by"] == group_by
        expected = world.expected(key)
        assert {row["group"] for row in data["rows"]} == set(expected)
        for row in data["rows"]:
            want = expected[row["group"]]
            assert row["currency"] == "USD"
            assert Decimal(row["cost"]) == want["cost"]  # exact, not only to the cent
            for name in CHARGEBACK_MEASURES:
                if name != "cost":
                    assert row[name] == want[name], (group_by, row["group"], name)
        assert Decimal(data["totals"]["cost"]) == world.total()["cost"]
        assert data["totals"]["total_tokens"] == world.total()["total_tokens"]


@pytest.mark.slow
def test_csv_and_xlsx_carry_the_page_numbers_with_the_currency(world, client_for, finance_user):
    client = client_for(finance_user)
    expected = world.expected(by_cost_center)

    response = client.get("/chargeback/export.csv?month=2026-10")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="chargeback-2026-10-cost_center.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    groups = {row["group"]: row for row in rows if row["line"] == "row"}
    assert set(groups) == set(expected)
    for group, want in expected.items():
        row = groups[group]
        assert row["currency"] == "USD"
        assert Decimal(row["cost"]) == cents(want["cost"])
        assert Decimal(row["cost_exact"]) == want["cost"]
        for name in CHARGEBACK_MEASURES:
            if name != "cost":
                assert int(row[name]) == want[name]
    total = next(row for row in rows if row["line"] == "total")
    assert Decimal(total["cost"]) == cents(world.total()["cost"])
    assert Decimal(total["cost_exact"]) == world.total()["cost"]
    assert groups[""]["subscription_ids"] == "sub-foxtrot sub-golf"

    response = client.get("/chargeback/export.xlsx?month=2026-10&cost_center=FIN")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content))["Chargeback"]
    header, *body = list(sheet.values)
    records = [dict(zip(header, values, strict=True)) for values in body]
    fin = [r for r in world.rows if by_cost_center(r) == "FIN"]
    expected = world.expected(lambda r: r["apim_subscription_id"] if r in fin else None)
    expected.pop(None, None)
    by_group = {r["group"]: r for r in records if r["line"] == "row"}
    assert set(by_group) == set(expected) == {"sub-bravo", "sub-echo"}
    for group, want in expected.items():
        assert Decimal(str(by_group[group]["cost"])) == cents(want["cost"])
        assert by_group[group]["currency"] == "USD"
        assert by_group[group]["cost_center"] == "FIN"
        assert by_group[group]["total_tokens"] == want["total_tokens"]


@pytest.mark.slow
def test_month_boundaries_are_utc_midnight_half_open(world, client_for, finance_user):
    client = client_for(finance_user)
    inside = {r["correlation_id"] for r in world.rows if r["time"] in (BEGIN, END - MICRO)}
    outside = {r["correlation_id"] for r in world.rows if r["time"] in (BEGIN - MICRO, END)}
    assert len(inside) == 2 and len(outside) == 2
    october = client.get("/api/v1/chargeback?month=2026-10").json()
    assert october["totals"]["requests"] == len(world.in_month()) == len(world.rows) - 4
    september = client.get("/api/v1/chargeback?month=2026-09").json()
    november = client.get("/api/v1/chargeback?month=2026-11").json()
    assert september["totals"]["requests"] == 2  # BEGIN - 1 µs and BEGIN - 1 h
    assert november["totals"]["requests"] == 2  # END and END + 30 min
    sep_begin = datetime(2026, 9, 1, tzinfo=UTC)
    assert Decimal(september["totals"]["cost"]) == world.total(sep_begin, BEGIN)["cost"]


@pytest.mark.slow
def test_the_model_filter_narrows_every_number(world, client_for, finance_user):
    html = client_for(finance_user).get("/chargeback/?month=2026-10&model=o3-mini").content.decode()
    table = page_table(html, "chargeback-rows")
    o3 = [r for r in world.rows if r["model"] == "o3-mini"]
    expected = world.expected(lambda r: by_cost_center(r) if r in o3 else None)
    expected.pop(None, None)
    assert set(table) - {"(total)"} == set(expected)
    for group, measures in expected.items():
        assert table[group] == expected_texts(measures)


@pytest.mark.slow
def test_the_page_shows_month_over_month_change_and_data_quality(world, client_for, finance_user):
    html = client_for(finance_user).get("/chargeback/?month=2026-11").content.decode()
    october, november = world.total()["cost"], world.total(END, datetime(2026, 12, 1, tzinfo=UTC))["cost"]
    change = ((november - october) * 100 / october).quantize(Decimal("0.1"))
    assert f"{change:,.1f} %".replace("-", "−") in html
    html = client_for(finance_user).get("/chargeback/?month=2026-10").content.decode()
    total = world.total()
    estimated = (Decimal(total["estimated_tokens"]) * 100 / total["total_tokens"]).quantize(Decimal("0.1"))
    assert f"{estimated} % estimated" in html
    assert 'id="chargeback-chart-data"' in html and "vendor/plotly-finance.min.js" in html


def test_an_empty_month_says_so(client_for, finance_user):
    html = client_for(finance_user).get("/chargeback/?month=2025-01").content.decode()
    assert "No usage for this selection in January 2025." in html


def test_a_bad_month_gets_a_clear_error_not_a_traceback(client_for, finance_user):
    response = client_for(finance_user).get("/chargeback/?month=2026-13")
    assert response.status_code == 400
    assert "month must be YYYY-MM" in response.content.decode()


def test_the_portable_and_postgres_sums_are_identical(world, db):
    assert usage_lines(begin=BEGIN, end=END, fast_path=True) == usage_lines(
        begin=BEGIN, end=END, fast_path=False
    )


def test_usage_by_person_or_app_is_named_and_adds_up(world, client_for, finance_user):
    from usage.chargeback.selectors.groups import ChargebackFilters
    from usage.chargeback.selectors.identities import identity_usage
    from usage.models import NamedIdentity, NativeLog

    people = ["oid-ann", "oid-bot", "oid-cy"]
    for index, row in enumerate(world.rows):
        if index % 4 == 3:
            continue  # no native log for this one
        NativeLog.objects.create(
            correlation_id=f"native-{index}", time=row["time"], object_id=people[index % 4]
        )
        GatewayRequest.objects.filter(correlation_id=row["correlation_id"]).update(
            apim_request_id=f"native-{index}"
        )
        row["object_id"] = people[index % 4]
    NamedIdentity.objects.create(object_id="oid-ann", display_name="Ann Analyst")
    # The native objectIds name the callers once the stored requests are re-read.
    call_command("callers_reevaluate", stdout=StringIO(), stderr=StringIO())
    expected = world.expected(lambda r: r.get("object_id", "(unidentified)"))
    for fast_path in (True, False):
        rows = identity_usage(scope=EVERY_COST_CENTER, begin=BEGIN, end=END, fast_path=fast_path)
        assert {r.object_id: r.measures.cost for r in rows} == {k: v["cost"] for k, v in expected.items()}
        assert {r.object_id: r.measures.estimated_tokens for r in rows} == {
            k: v["estimated_tokens"] for k, v in expected.items()
        }
    html = client_for(finance_user).get("/chargeback/?month=2026-10&identities=1").content.decode()
    table = page_table(html, "chargeback-identities")
    assert table["oid-ann"]["cost"] == expected_texts(expected["oid-ann"])["cost"]
    assert "Ann Analyst" in html and "(unidentified)" in html
    fin = identity_usage(
        scope=EVERY_COST_CENTER, begin=BEGIN, end=END, filters=ChargebackFilters(cost_center="FIN")
    )
    fin_expected = world.expected(
        lambda r: r.get("object_id", "(unidentified)") if by_cost_center(r) == "FIN" else None
    )
    fin_expected.pop(None, None)
    assert {r.object_id: r.measures.requests for r in fin} == {
        k: v["requests"] for k, v in fin_expected.items()
    }
