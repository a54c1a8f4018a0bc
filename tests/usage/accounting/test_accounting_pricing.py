"""Prices: defaults from genai-prices, effective dates, deployment types, previews, PTU."""

import datetime as dt
from decimal import Decimal

import genai_prices
import pytest
from django.db.models import Sum

from tests.factories import gateway_request_create
from tests.support import accounting_samples as s
from usage.accounting.price_changes import price_apply, price_change_preview, token_quality_by_month
from usage.accounting.price_defaults import genai_price_rows, prices_seed
from usage.accounting.pricing import PriceBook, month_is_closed
from usage.accounting.ptu import ptu_allocate
from usage.ingestion.pipeline import requests_refresh
from usage.models import (
    CostCenter,
    CostCenterAssignment,
    Deployment,
    DeploymentType,
    GatewayRequest,
    ModelPrice,
    MonthClose,
    ProvisionedCommitment,
    UsageHourly,
)

pytestmark = pytest.mark.django_db

EIGHT = Decimal("0.00000001")


def usage(prompt: int, completion: int, cached: int = 0) -> dict:
    return {
        "completion_tokens": completion,
        "prompt_tokens": prompt,
        "prompt_tokens_details": {"cached_tokens": cached},
        "total_tokens": prompt + completion,
    }


def chat(
    cid: str,
    time: dt.datetime,
    *,
    model: str = "gpt-4o-2024-08-06",
    deployment: str = "gpt4o-prod",
    prompt: int = 1000,
    completion: int = 200,
    cached: int = 0,
    subscription: str = "sub-a",
    product: str = "",
) -> GatewayRequest:
    return gateway_request_create(
        correlation_id=cid,
        time=time,
        response_code=200,
        url=f"{s.BASE}/openai/deployments/{deployment}/chat/completions?api-version=2024-10-21",
        request_body=s.chat_request(s.MESSAGES),
        response_body=s.chat_response(model=model, usage=usage(prompt, completion, cached)),
        apim_subscription_id=subscription,
        product_id=product,
    )


def refresh() -> None:
    requests_refresh(correlation_ids=list(GatewayRequest.objects.values_list("correlation_id", flat=True)))


def admin_price(model: str, start: dt.datetime, inp: str, out: str, **kw) -> ModelPrice:
    return ModelPrice.objects.create(
        model=model,
        effective_from=start,
        input_per_1m=Decimal(inp),
        output_per_1m=Decimal(out),
        source=ModelPrice.Source.ADMIN,
        **kw,
    )


def test_the_default_table_is_reproducible_from_the_pinned_genai_prices():
    assert genai_prices.__version__ == "0.2.3"
    rows = genai_price_rows()
    assert rows == genai_price_rows()
    assert prices_seed() == 0  # the migration already wrote them; seeding again adds nothing
    assert ModelPrice.objects.filter(source="genai-prices").count() == len(rows)


def test_seeding_an_empty_table_writes_what_seeding_row_by_row_writes():
    fields = ("model", "deployment_type", "currency", "effective_from", "input_per_1m", "cached_input_per_1m")
    migrated = sorted(ModelPrice.objects.values_list(*fields, "output_per_1m", "note"))
    ModelPrice.objects.all().delete()
    assert prices_seed() == len(migrated)  # one insert into the empty table
    assert sorted(ModelPrice.objects.values_list(*fields, "output_per_1m", "note")) == migrated
    ModelPrice.objects.filter(model="gpt-4o").delete()
    assert prices_seed() == len([row for row in migrated if row[0] == "gpt-4o"])  # row by row
    assert sorted(ModelPrice.objects.values_list(*fields, "output_per_1m", "note")) == migrated


@pytest.mark.parametrize(
    ("azure_model", "prompt", "cached", "completion"),
    [
        ("gpt-4o", 12_000, 3_000, 800),
        ("gpt-4o-mini", 5_000, 0, 5_000),
        ("gpt-35-turbo", 2_000, 0, 300),  # genai-prices knows it as gpt-3.5-turbo
        ("gpt-4.1", 100_000, 60_000, 1_000),
        ("o3-mini", 1_000, 0, 4_000),
    ],
)
def test_default_prices_cost_what_genai_prices_computes(azure_model, prompt, cached, completion):
    chat(
        "c",
        dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
        model=azure_model,
        prompt=prompt,
        cached=cached,
        completion=completion,
    )
    refresh()
    row = GatewayRequest.objects.get()
    expected = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=prompt, cache_read_tokens=cached, output_tokens=completion),
        azure_model,
        provider_id="azure",
        genai_request_timestamp=row.time,
    ).total_price
    assert row.is_priced and row.cost == Decimal(expected).quantize(EIGHT)


def test_a_price_change_applies_from_its_first_second():
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    new = admin_price("gpt-4o", start, "2", "8")
    chat("before", start - dt.timedelta(seconds=1))
    chat("at", start)
    refresh()
    before, at = (
        GatewayRequest.objects.get(correlation_id="before"),
        GatewayRequest.objects.get(correlation_id="at"),
    )
    default = ModelPrice.objects.get(model="gpt-4o", source="genai-prices")
    assert before.price_version == default.version
    assert before.cost == ((1000 * default.input_per_1m + 200 * default.output_per_1m) / 1_000_000).quantize(
        EIGHT
    )
    assert at.price_version == new.version == f"admin#{new.pk}"
    assert at.cost == Decimal("0.00360000")  # 1000 * 2/1M + 200 * 8/1M


def test_cached_input_costs_the_input_price_when_no_cached_price_is_set():
    admin_price("gpt-4o", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "10", "0")
    chat("c", dt.datetime(2026, 2, 1, tzinfo=dt.UTC), prompt=1000, cached=1000, completion=0)
    refresh()
    assert GatewayRequest.objects.get().cost == Decimal("0.01")


def test_a_deployment_type_price_wins_and_falls_back_to_global():
    day = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    Deployment.objects.create(name="eu-regional", deployment_type=DeploymentType.REGIONAL)
    Deployment.objects.create(name="eu-datazone", deployment_type=DeploymentType.DATA_ZONE)
    regional = admin_price(
        "gpt-4o", day - dt.timedelta(days=30), "2.75", "11", deployment_type=DeploymentType.REGIONAL
    )
    specific = admin_price("gpt-4o", day - dt.timedelta(days=60), "1", "1", deployment="team-special")
    chat("r", day, deployment="eu-regional")
    chat("d", day, deployment="eu-datazone")
    chat("s", day, deployment="team-special")
    refresh()
    versions = dict(GatewayRequest.objects.values_list("correlation_id", "price_version"))
    default = ModelPrice.objects.get(model="gpt-4o", source="genai-prices")
    assert versions == {"r": regional.version, "d": default.version, "s": specific.version}


def test_an_unknown_model_is_unpriced_and_counted_as_such():
    chat("c", dt.datetime(2026, 2, 1, 10, tzinfo=dt.UTC), model="contoso-private-llm")
    refresh()
    row = GatewayRequest.objects.get()
    assert (row.cost, row.is_priced, row.price_version) == (0, False, "")
    assert UsageHourly.objects.aggregate(u=Sum("unpriced_tokens"))["u"] == 1200


def test_the_preview_shows_old_and_new_totals_per_cost_center_without_changing_anything():
    finance = CostCenter.objects.create(code="FIN", name="Finance")
    sales = CostCenter.objects.create(code="SAL", name="Sales")
    CostCenterAssignment.objects.create(kind="subscription", key="sub-fin", cost_center=finance)
    CostCenterAssignment.objects.create(kind="product", key="prod-sales", cost_center=sales)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    month = now.replace(day=1, hour=0, minute=0, second=0)
    chat("f1", month + dt.timedelta(minutes=5), subscription="sub-fin")
    chat(
        "f2", month + dt.timedelta(minutes=6), subscription="sub-fin", product="prod-sales"
    )  # subscription wins
    chat("s1", month + dt.timedelta(minutes=7), subscription="sub-x", product="prod-sales")
    chat("u1", month + dt.timedelta(minutes=8), subscription="sub-nobody")
    chat("other-model", month + dt.timedelta(minutes=9), model="gpt-4o-mini", subscription="sub-fin")
    refresh()
    before = list(GatewayRequest.objects.order_by("pk").values_list("cost", flat=True))

    proposal = ModelPrice(
        model="gpt-4o", effective_from=month, input_per_1m=Decimal("5"), output_per_1m=Decimal("20")
    )
    preview = price_change_preview(proposal=proposal)

    old_one = GatewayRequest.objects.get(correlation_id="f1").cost
    new_one = Decimal("0.009")  # 1000 * 5/1M + 200 * 20/1M
    got = {r.cost_center: (r.requests, r.old_cost, r.new_cost) for r in preview.rows}
    assert got == {
        "FIN": (2, 2 * old_one, 2 * new_one),
        "SAL": (1, old_one, new_one),
        "(unassigned)": (1, old_one, new_one),
    }
    assert preview.new_total - preview.old_total == 4 * (new_one - old_one)
    assert list(GatewayRequest.objects.order_by("pk").values_list("cost", flat=True)) == before
    assert not ModelPrice.objects.filter(source="admin").exists()

    assert price_apply(proposal=proposal, set_by="ada") == 4
    assert GatewayRequest.objects.get(correlation_id="s1").cost == new_one
    assert GatewayRequest.objects.get(correlation_id="other-model").price_version.startswith("genai-prices#")
    hourly = UsageHourly.objects.aggregate(c=Sum("cost"))["c"]
    assert hourly == GatewayRequest.objects.aggregate(c=Sum("cost"))["c"]


def test_ptu_commitment_is_shared_out_by_tokens():
    Deployment.objects.create(name="ptu-gpt4o", deployment_type=DeploymentType.PROVISIONED)
    ProvisionedCommitment.objects.create(
        deployment="ptu-gpt4o", month=dt.date(2026, 10, 1), amount=Decimal("1000")
    )
    october = dt.datetime(2026, 10, 5, tzinfo=dt.UTC)
    chat("p1", october, deployment="ptu-gpt4o", prompt=100, completion=0)
    requests_refresh(correlation_ids=["p1"])
    assert GatewayRequest.objects.get(correlation_id="p1").cost == Decimal(1000)  # only request so far
    chat("p2", october + dt.timedelta(days=1), deployment="ptu-gpt4o", prompt=300, completion=0)
    chat("p3", october + dt.timedelta(days=2), deployment="ptu-gpt4o", prompt=500, completion=100)
    chat("nov", dt.datetime(2026, 11, 1, tzinfo=dt.UTC), deployment="ptu-gpt4o")  # no commitment that month
    requests_refresh(correlation_ids=["p2", "p3", "nov"])

    assert ptu_allocate(month=dt.date(2026, 10, 1)) == 3
    costs = dict(GatewayRequest.objects.values_list("correlation_id", "cost"))
    assert (costs["p1"], costs["p2"], costs["p3"]) == (Decimal(100), Decimal(300), Decimal(600))
    nov = GatewayRequest.objects.get(correlation_id="nov")
    assert (nov.cost, nov.is_priced) == (0, False)
    assert UsageHourly.objects.filter(hour__month=10).aggregate(c=Sum("cost"))["c"] == Decimal(1000)


def test_token_quality_is_counted_per_month():
    chat("a", dt.datetime(2026, 10, 31, 23, 59, tzinfo=dt.UTC))
    chat("b", dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    GatewayRequest.objects.create(
        correlation_id="c", time=dt.datetime(2026, 11, 2, tzinfo=dt.UTC), response_code=200, url=s.CHAT_URL
    )
    refresh()
    counts = token_quality_by_month(
        start=dt.datetime(2026, 10, 1, tzinfo=dt.UTC), end=dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    )
    assert counts[dt.date(2026, 10, 1)]["reported"] == 1
    assert counts[dt.date(2026, 11, 1)] == {
        "reported": 1,
        "llm_log": 0,
        "estimated": 0,
        "none": 0,
        "unknown": 1,
    }


def test_the_price_book_ignores_prices_not_yet_in_effect():
    admin_price("gpt-4o", dt.datetime(2030, 1, 1, tzinfo=dt.UTC), "99", "99")
    book = PriceBook.load()
    found = book.find(model="gpt-4o-2024-08-06", deployment="x", at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert found.source == "genai-prices"


def close(month: dt.date) -> MonthClose:
    return MonthClose.objects.create(month=month, closed_at=dt.datetime.now(dt.UTC), currency="USD")


def test_a_closed_month_is_never_repriced():
    september = dt.datetime(2026, 9, 10, tzinfo=dt.UTC)
    chat("sep", september)
    refresh()
    priced = GatewayRequest.objects.get(correlation_id="sep")
    close(dt.date(2026, 9, 1))

    proposal = ModelPrice(
        model="gpt-4o",
        effective_from=dt.datetime(2026, 9, 1, tzinfo=dt.UTC),
        input_per_1m=Decimal("50"),
        output_per_1m=Decimal("50"),
    )
    preview = price_change_preview(proposal=proposal)
    assert dt.date(2026, 9, 1) in preview.closed_months and dt.date(2026, 9, 1) not in preview.months
    assert all(r.requests == 0 for r in preview.rows)
    price_apply(proposal=proposal, set_by="ada")
    refresh()  # a late re-ingestion of the closed month

    after = GatewayRequest.objects.get(correlation_id="sep")
    assert (after.cost, after.price_version) == (priced.cost, priced.price_version)
    assert month_is_closed(dt.date(2026, 9, 15))


def test_a_reopened_month_is_repriced_again():
    chat("sep", dt.datetime(2026, 9, 10, tzinfo=dt.UTC))
    refresh()
    closed = close(dt.date(2026, 9, 1))
    admin_price("gpt-4o", dt.datetime(2026, 9, 1, tzinfo=dt.UTC), "1", "1")
    refresh()
    assert GatewayRequest.objects.get().price_version.startswith("genai-prices#")
    closed.reopened_at = dt.datetime.now(dt.UTC)
    closed.save()
    refresh()
    assert GatewayRequest.objects.get().price_version.startswith("admin#")


def test_ptu_allocation_leaves_a_closed_month_alone():
    Deployment.objects.create(name="ptu", deployment_type=DeploymentType.PROVISIONED)
    ProvisionedCommitment.objects.create(deployment="ptu", month=dt.date(2026, 8, 1), amount=Decimal("10"))
    chat("aug", dt.datetime(2026, 8, 3, tzinfo=dt.UTC), deployment="ptu")
    close(dt.date(2026, 8, 1))
    assert ptu_allocate(month=dt.date(2026, 8, 1)) == 0


def test_the_commands_seed_prices_and_allocate_ptu():
    from io import StringIO

    from django.core.management import CommandError, call_command

    ModelPrice.objects.filter(source="genai-prices", model="gpt-4o").delete()
    out = StringIO()
    call_command("prices_seed", stdout=out)
    assert out.getvalue().startswith("1 price rows created")
    assert ModelPrice.objects.filter(source="genai-prices", model="gpt-4o").count() == 1

    Deployment.objects.create(name="ptu", deployment_type=DeploymentType.PROVISIONED)
    ProvisionedCommitment.objects.create(deployment="ptu", month=dt.date(2026, 7, 1), amount=Decimal("42"))
    chat("jul", dt.datetime(2026, 7, 3, tzinfo=dt.UTC), deployment="ptu")
    refresh()
    GatewayRequest.objects.update(cost=0)
    out = StringIO()
    call_command("ptu_allocate", "--month", "2026-07", stdout=out)
    assert out.getvalue().strip() == "1 requests allocated for 2026-07"
    assert GatewayRequest.objects.get().cost == Decimal(42)
    with pytest.raises(CommandError, match="not YYYY-MM"):
        call_command("ptu_allocate", "--month", "July")


def test_closing_a_month_first_shares_ptu_commitments_out_exactly(finance_user):
    from usage.chargeback.services import chargeback_month_close

    Deployment.objects.create(name="ptu", deployment_type=DeploymentType.PROVISIONED)
    ProvisionedCommitment.objects.create(deployment="ptu", month=dt.date(2026, 6, 1), amount=Decimal("90"))
    chat("first", dt.datetime(2026, 6, 2, tzinfo=dt.UTC), deployment="ptu", prompt=100, completion=0)
    refresh()  # alone in the month so far: the whole commitment
    chat("second", dt.datetime(2026, 6, 20, tzinfo=dt.UTC), deployment="ptu", prompt=200, completion=0)
    requests_refresh(correlation_ids=["second"])
    assert GatewayRequest.objects.get(correlation_id="first").cost == Decimal(90)

    chargeback_month_close(month=dt.date(2026, 6, 1), user=finance_user, warnings_confirmed=True)
    costs = dict(GatewayRequest.objects.values_list("correlation_id", "cost"))
    assert (costs["first"], costs["second"]) == (Decimal(30), Decimal(60))
