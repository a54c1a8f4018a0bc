"""Reading Azure meter names: real names from the Retail Prices API (tests/data/meters/README.md)."""

import csv
from pathlib import Path

import pytest

from costs.meters import TokenKind, meter_parse, model_family
from costs.models import MeterMapping
from costs.selectors import meter_read, meters_unknown

DATA = Path(__file__).parents[1] / "data" / "meters"


def _meters(name: str) -> list[dict[str, str]]:
    with open(DATA / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


REAL = _meters("azure_retail_prices_openai.tsv") + _meters("issue_examples.tsv")


@pytest.mark.parametrize(
    ("meter", "unit", "expected"),
    [
        # The examples.
        ("gpt 4o 1120 Inp regnl Tokens", "1K", ("gpt-4o", "1120", "input", "regional", 1000)),
        ("gpt-4o-mini-0718-Inp-regnl Tokens", "1K", ("gpt-4o-mini", "0718", "input", "regional", 1000)),
        ("gpt-35-turbo-16K-0125 Input-regional Tokens", "1K", ("gpt-35-turbo", "0125", "input", "regional", 1000)),
        ("o3 mini 0131 cached input regnl Tokens", "1K", ("o3-mini", "0131", "cached_input", "regional", 1000)),
        ("GPT 5 cchd Inpt Glbl 1M Tokens", "1M", ("gpt-5", "", "cached_input", "global", 1_000_000)),
        ("Provisioned Managed Regional Unit", "1/Hour", ("", "", "provisioned_hours", "regional", None)),
        # Spellings of one family: separators, run-together words, abbreviations.
        ("gpt-4o-0806-Inp-glbl Tokens", "1K", ("gpt-4o", "0806", "input", "global", 1000)),
        ("gpt 4o 0806 cached Inp Data Zone Tokens", "1K", ("gpt-4o", "0806", "cached_input", "datazone", 1000)),
        ("gpt 4o mini0718 BatchOutp DataZone Tokens", "1K", ("gpt-4o-mini", "0718", "batch_output", "datazone", 1000)),
        ("gpt-4o-mini-0718-Outp-regnl Tokens", "1K", ("gpt-4o-mini", "0718", "output", "regional", 1000)),
        ("gpt 4o 0513 Output global Tokens", "1K", ("gpt-4o", "0513", "output", "global", 1000)),
        ("GPT 5 Mini Batch Inpt cchd Dzone 1M Tokens", "1M", ("gpt-5-mini", "", "batch_input", "datazone", 1_000_000)),
        ("GPT 5 Rsng outpt Glbl 1M Tokens", "1M", ("gpt-5", "", "output", "global", 1_000_000)),
        ("gpt 4.1 nano cached Inp DZone Tokens", "1K", ("gpt-4.1-nano", "", "cached_input", "datazone", 1000)),
        ("o4-mini 0416 cached Inp DataZone Tokens", "1K", ("o4-mini", "0416", "cached_input", "datazone", 1000)),
        ("codex mini inp cchd rgnl Tokens", "1K", ("codex-mini", "", "cached_input", "regional", 1000)),
        ("gpt-35-turbo16K-0125 Inp-glbl Tokens", "1K", ("gpt-35-turbo", "0125", "input", "global", 1000)),
        ("gpt-4-32K-Output-regional Tokens", "1K", ("gpt-4-32k", "", "output", "regional", 1000)),
        ("gpt-4-Turbo-Batch-128K Inp-glbl Tokens", "1K", ("gpt-4-turbo", "", "batch_input", "global", 1000)),
        ("o3-deep research 0626-out-dzone 1M Tokens", "1M", ("o3-deep-research", "0626", "output", "datazone", 1_000_000)),
        ("gpt4omini-rt-txt1217 cchd Inp DZn Tokens", "1K", ("gpt-4o-mini-realtime-preview", "1217", "cached_input", "datazone", 1000)),
        ("gpt4o realtimePrvwAudOutp DataZone Tokens", "1K", ("gpt-4o-realtime-preview", "", "output", "datazone", 1000)),
        ("gpt-4o-aud-1217-txt Inp glbl Tokens", "1K", ("gpt-4o-audio-preview", "1217", "input", "global", 1000)),
        # Embeddings bill only what they are sent.
        ("text-embedding-3-small-regional Tokens", "1K", ("text-embedding-3-small", "", "input", "regional", 1000)),
        ("embedding-ada-datazone Tokens", "1K", ("text-embedding-ada-002", "", "input", "datazone", 1000)),
        # Fine-tuned deployments are their own model; training, hosting and graders are not requests.
        ("gpt-4o-mini-0718-FT-inp-regnl Tokens", "1K", ("gpt-4o-mini-ft", "0718", "input", "regional", 1000)),
        ("gpt-4.1-dev-ft cchd inpt glbl Tokens", "1K", ("gpt-4.1-ft", "", "cached_input", "global", 1000)),
        ("gpt-4o-0806-FT-Trng-glbl tkn Tokens", "1K", ("gpt-4o", "0806", "other", "global", 1000)),
        ("o3-ft mdl grdr opt Tokens", "1K", ("o3", "", "other", "", 1000)),
        ("gpt-4.1-ft hosting global Unit", "1 Hour", ("gpt-4.1", "", "other", "", None)),
        ("Image-Dall-E-3 HD HighRes-glbl Images", "100", ("", "", "other", "", None)),
        ("Provisioned Managed Data Zone Unit", "1/Hour", ("", "", "provisioned_hours", "datazone", None)),
        ("Provisioned Throughput Units", "1/Month", ("", "", "provisioned_hours", "", None)),
    ],
)
def test_it_reads_real_meter_names(meter, unit, expected):
    reading = meter_parse(meter, unit)
    assert (
        reading.model,
        reading.version,
        reading.kind,
        reading.deployment_type,
        reading.tokens_per_unit,
    ) == expected


@pytest.mark.parametrize(
    ("meter", "reason"),
    [
        ("gpt 4o weirdly-worded glbl Tokens", "unknown word"),
        ("5.4 pp inp Gl 1M Tokens", "no known model"),  # priority processing: a later naming
        ("Llama 3.3 70B Inp glbl Tokens", "no known model"),
        ("gpt 4o 1120 Inp Outp glbl Tokens", "both input and output"),
        ("gpt 4o 1120 glbl regnl Inp Tokens", "two deployment types"),
        ("gpt 4.1 glbl Tokens", "neither input nor output"),
        ("Standard Transactions", "not a token meter"),
        ("", "empty"),
    ],
)
def test_a_meter_it_cannot_read_is_unknown_never_guessed(meter, reason):
    reading = meter_parse(meter, "1K")
    assert reading.kind == TokenKind.UNKNOWN
    assert not reading.known
    assert reason in reading.reason


def test_every_real_azure_openai_meter_is_read():
    assert len(REAL) > 600
    unknown = [row["meterName"] for row in REAL if not meter_parse(row["meterName"], row["unitOfMeasure"]).known]
    assert unknown == []


@pytest.mark.parametrize("row", REAL, ids=lambda row: row["meterName"])
def test_what_a_real_name_says_is_what_is_read(row):
    """Deployment words, units and direction words in the name agree with the reading."""
    name, unit = row["meterName"], row["unitOfMeasure"]
    reading = meter_parse(name, unit)
    lowered = f" {name.lower().replace('-', ' ')} "
    if reading.kind in (TokenKind.INPUT, TokenKind.OUTPUT, TokenKind.CACHED_INPUT):
        assert name.lower().endswith("tokens")
        assert reading.model
        assert reading.tokens_per_unit == {"1K": 1000, "1M": 1_000_000}[unit]
    if reading.kind in (TokenKind.BATCH_INPUT, TokenKind.BATCH_OUTPUT):
        assert "batch" in name.lower()
    if " glbl " in lowered or " global " in lowered:
        assert reading.deployment_type in ("global", "")
    if " regnl " in lowered or " regional " in lowered:
        assert reading.deployment_type in ("regional", "")
    if reading.kind == TokenKind.OUTPUT:
        assert "inp" not in lowered.replace("realtimeprvw", "")


@pytest.mark.parametrize(
    ("request_model", "family"),
    [
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("GPT-4o", "gpt-4o"),
        ("gpt-35-turbo-16k", "gpt-35-turbo"),
        ("gpt-3.5-turbo-0125", "gpt-35-turbo"),
        ("gpt-4o-mini-2024-07-18.ft-0e2c5e", "gpt-4o-mini-ft"),
        ("gpt-4-32k", "gpt-4-32k"),
        ("text-embedding-3-small", "text-embedding-3-small"),
    ],
)
def test_request_models_reduce_to_the_meters_model(request_model, family):
    assert model_family(request_model) == family


@pytest.mark.django_db
def test_an_admin_mapping_wins_over_the_reader_and_clears_the_unknown_list():
    from decimal import Decimal

    from tests.support.costs_data import cost_line

    cost_line(meter_name="gpt 4o weirdly-worded glbl Tokens", billed_cost=Decimal("3.5"))
    cost_line(meter_name="gpt 4o 1120 Inp glbl Tokens", billed_cost=Decimal("1"))
    unknown = meters_unknown()
    assert [(m.meter_name, m.lines, m.amount) for m in unknown] == [
        ("gpt 4o weirdly-worded glbl Tokens", 1, Decimal("3.5"))
    ]

    MeterMapping.objects.create(
        meter_name="GPT 4o  Weirdly-Worded glbl Tokens", model="gpt-4o", kind="input", deployment_type="global"
    )
    reading = meter_read(meter_name="gpt 4o weirdly-worded glbl Tokens")
    assert (reading.model, reading.kind, reading.deployment_type) == ("gpt-4o", "input", "global")
    assert meters_unknown() == []
    # A mapping also overrides a meter the reader knows.
    MeterMapping.objects.create(meter_name="gpt 4o 1120 Inp glbl Tokens", model="gpt-4o", kind="other")
    assert meter_read(meter_name="gpt 4o 1120 inp glbl tokens").kind == "other"


@pytest.mark.django_db
def test_admins_see_unknown_meters_with_a_link_that_maps_them(admin_user, client_for):
    from decimal import Decimal

    from tests.support.costs_data import cost_line

    cost_line(meter_name="gpt 4o weirdly-worded glbl Tokens", billed_cost=Decimal("3.5"))
    client = client_for(admin_user)
    page = client.get("/admin/costs/metermapping/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "gpt 4o weirdly-worded glbl Tokens" in html
    assert "unknown word" in html
    assert "/admin/costs/metermapping/add/?meter_name=gpt%204o%20weirdly-worded%20glbl%20Tokens" in html

    form = client.get("/admin/costs/metermapping/add/?meter_name=gpt%204o%20weirdly-worded%20glbl%20Tokens")
    assert 'value="gpt 4o weirdly-worded glbl Tokens"' in form.content.decode()
    lines = client.get("/admin/costs/costline/")
    assert "unknown: unknown word" in lines.content.decode()
