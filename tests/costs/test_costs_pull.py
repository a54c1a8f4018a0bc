"""The Cost Management pull: the real SDK client, over HTTP, against the local Query API emulator."""

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from aoai_portal.celery import app
from costs.emulator import CostManagementEmulator
from costs.emulator_records import AMORTIZED_COST, cost_records_generate, export_write
from costs.models import CostImport, CostLine
from costs.pull import cost_pull
from costs.services import AMORTIZED, cost_file_import

SUBSCRIPTION = "00000000-0000-0000-0000-0000000000aa"
SCOPE = f"/subscriptions/{SUBSCRIPTION}"
FIRST, LAST = dt.date(2026, 3, 1), dt.date(2026, 3, 6)
# What a line is: the figures and the fields it is keyed by (not who wrote it, nor when).
COMPARED = (
    "key", "billing_period", "date", "resource_id", "meter_name", "meter_category", "meter_subcategory",
    "charge_type", "pricing_model", "quantity", "billed_cost", "effective_cost", "currency",
)  # fmt: skip


@pytest.fixture
def records():
    return cost_records_generate(start=FIRST, end=LAST, subscription=SUBSCRIPTION)


@pytest.fixture
def emulator(settings, records) -> Iterator[CostManagementEmulator]:
    server = CostManagementEmulator(records=records, page_size=1000).start()
    settings.COST_MANAGEMENT_ENDPOINT = server.endpoint
    settings.COST_MANAGEMENT_SCOPE = SCOPE
    settings.COST_MANAGEMENT_CREDENTIAL = "static"
    settings.INGEST_RETRIES = 2
    settings.INGEST_BACKOFF_SECONDS = 0
    settings.REDIS_URL = ""
    yield server
    server.stop()


def lines() -> list[tuple]:
    return sorted(CostLine.objects.values_list(*COMPARED))


def no_sleep(seconds: float) -> None:
    pass


def test_a_pull_stores_the_same_lines_as_importing_the_equivalent_exports(db, emulator, records, tmp_path):
    pulled = cost_pull(since=FIRST, until=LAST, sleep=no_sleep)
    assert pulled.ok, pulled.as_dict()
    from_pull = lines()
    # 6 days x (2 accounts x 5 token meters + 1 PTU) + 1 reservation purchase; storage filtered out.
    assert len(from_pull) == 6 * 11 + 1

    CostLine.objects.all().delete()
    cost_file_import(path=export_write(tmp_path / "actual.csv", records))
    cost_file_import(path=export_write(tmp_path / "amortized.csv", records, query_type=AMORTIZED_COST),
                     dataset=AMORTIZED)  # fmt: skip
    assert lines() == from_pull

    # The pull after the import: the same lines, found by the same keys, nothing counted twice.
    again = cost_pull(since=FIRST, until=LAST, sleep=no_sleep)
    assert [(q.stored, q.updated) for q in again.queries] == [(0, 0), (0, 0)]
    assert lines() == from_pull
    # ... and an import after the pull too (the file knows the unit, which the pull leaves).
    result = cost_file_import(path=export_write(tmp_path / "again.csv", records))
    assert (result.stored, result.updated) == (0, 0)


def test_pulling_again_changes_nothing(db, emulator):
    first = cost_pull(since=FIRST, until=LAST, sleep=no_sleep)
    before = list(CostLine.objects.order_by("key").values())
    second = cost_pull(since=FIRST, until=LAST, sleep=no_sleep)
    assert [(q.stored, q.updated, q.unchanged) for q in second.queries] == [
        (0, 0, q.stored + q.updated + q.unchanged) for q in first.queries
    ]
    assert list(CostLine.objects.order_by("key").values()) == before


def test_actual_and_amortized_fill_the_two_costs_of_the_same_lines(db, emulator):
    result = cost_pull(since=FIRST, until=LAST, sleep=no_sleep)
    assert [q.path.split()[2] for q in result.queries] == ["ActualCost", "AmortizedCost"]
    assert list(CostImport.objects.order_by("id").values_list("dataset", "file_format", "error")) == [
        ("actual", "query.api", ""),
        ("amortized", "query.api", ""),
    ]
    tokens = CostLine.objects.filter(charge_type="Usage", pricing_model="OnDemand")
    assert tokens.count() == 60 and all(line.billed_cost == line.effective_cost for line in tokens)
    ptu = CostLine.objects.filter(charge_type="Usage", pricing_model="Reservation", date=FIRST).get()
    assert (ptu.billed_cost, ptu.effective_cost) == (Decimal(0), Decimal("33.6"))
    purchase = CostLine.objects.get(charge_type="Purchase")
    assert (purchase.billed_cost, purchase.effective_cost) == (Decimal("201.6"), None)
    assert purchase.resource_id == purchase.resource_id.lower()
    assert purchase.billing_period == dt.date(2026, 3, 1)


def test_pages_are_followed_with_the_same_query(db, emulator):
    emulator.page_size = 10
    result = cost_pull(since=FIRST, until=LAST, datasets=("actual",), sleep=no_sleep)
    assert result.ok
    assert CostLine.objects.count() == 67
    tokens = [r["skiptoken"] for r in emulator.requests]
    assert len(tokens) == 7 and tokens[0] == "" and all(tokens[1:]) and len(set(tokens)) == 7
    assert all(r["body"] == emulator.requests[0]["body"] for r in emulator.requests)


def test_a_throttled_query_waits_what_the_service_said_and_is_asked_again(db, emulator):
    emulator.throttle_next(retry_after=1, qpu_retry_after=3)
    waits: list[float] = []
    result = cost_pull(since=FIRST, until=LAST, datasets=("actual",), sleep=waits.append)
    assert result.ok
    assert waits == [3.0]  # the longest of Retry-After and the Cost Management header
    assert len(emulator.requests) == 2
    assert CostLine.objects.count() == 67


def test_a_query_that_fails_for_good_stores_nothing_of_itself(db, emulator, settings):
    settings.INGEST_RETRIES = 1
    emulator.page_size = 10
    # A later page of the actual query stays throttled: none of its pages is stored.
    emulator.throttle_next(times=2, retry_after=0, pages_only=True)
    result = cost_pull(since=FIRST, until=LAST, sleep=no_sleep)
    actual, amortized = result.queries
    assert not result.ok
    assert actual.error.startswith("HTTP 429") and actual.stored == 0
    assert amortized.error == "" and amortized.stored == 66
    assert not CostLine.objects.filter(billed_cost__isnull=False).exists()
    record = CostImport.objects.get(dataset="actual")
    assert record.error.startswith("HTTP 429") and record.stored == 0


def test_a_span_is_asked_for_month_by_month_and_defaults_to_the_lookback(db, emulator, settings):
    settings.COST_PULL_LOOKBACK_DAYS = 40
    now = dt.datetime(2026, 3, 6, 9, tzinfo=dt.UTC)
    result = cost_pull(datasets=("actual",), now=now, sleep=no_sleep)
    assert result.ok  # the emulator refuses more than 31 days at daily granularity
    periods = [r["body"]["timePeriod"] for r in emulator.requests]
    assert periods == [
        {"from": "2026-01-25T00:00:00Z", "to": "2026-01-31T23:59:59Z"},
        {"from": "2026-02-01T00:00:00Z", "to": "2026-02-28T23:59:59Z"},
        {"from": "2026-03-01T00:00:00Z", "to": "2026-03-06T23:59:59Z"},
    ]
    assert CostLine.objects.count() == 67


def test_the_command_pulls_a_span_and_refuses_without_a_scope(db, emulator, settings, capsys):
    call_command("pull_costs", "--since", "2026-03-02", "--until", "2026-03-03", "--dataset", "actual")
    out = capsys.readouterr().out
    assert "ActualCost 2026-03-02..2026-03-03" in out and "22 stored" in out
    settings.COST_MANAGEMENT_SCOPE = ""
    with pytest.raises(CommandError, match="COST_MANAGEMENT_SCOPE"):
        call_command("pull_costs")


def test_the_pull_is_scheduled_by_its_task_name(settings):
    app.loader.import_default_modules()
    entry = settings.CELERY_BEAT_SCHEDULE["costs-pull"]
    assert entry["task"] == "costs.pull" and entry["task"] in app.tasks
