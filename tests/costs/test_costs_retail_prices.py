"""Azure Retail Prices API answers -> effective-dated prices per model, version, deployment type and
region; computed cost takes Azure's price for the deployment's type and region, genai-prices
stays the fallback. Meter names are real (tests/data/meters); the prices are illustrative."""

import datetime as dt
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from costs.retail_prices import retail_prices_import
from usage.accounting.pricing import PriceBook, request_cost
from usage.models import Deployment, DeploymentType, ModelPrice, TokenSource

pytestmark = pytest.mark.django_db
SOURCE = ModelPrice.Source.AZURE_RETAIL


def item(meter: str, price: str, *, region: str = "eastus2", unit: str = "1K", start: str = "2024-12-01T00:00:00Z",
         kind: str = "Consumption", product: str = "Azure OpenAI") -> dict:  # fmt: skip
    return {
        "currencyCode": "USD", "retailPrice": float(price), "unitPrice": float(price), "armRegionName": region,
        "location": region, "effectiveStartDate": start, "meterName": meter, "productName": product,
        "skuName": meter.rsplit(" ", 1)[0], "serviceName": "Foundry Models", "unitOfMeasure": unit, "type": kind,
    }  # fmt: skip


ITEMS = [
    item("gpt 4o 1120 Inp glbl Tokens", "0.0025"),
    item("gpt 4o 1120 cached Inp glbl Tokens", "0.00125"),
    item("gpt 4o 1120 Outp glbl Tokens", "0.01"),
    item("gpt 4o 1120 Inp regnl Tokens", "0.00275", region="swedencentral"),
    item("gpt 4o 1120 Outp regnl Tokens", "0.011", region="swedencentral"),
    # The regional output price dropped later: a second row from that date.
    item("gpt 4o 1120 Outp regnl Tokens", "0.0105", region="swedencentral", start="2025-03-01T00:00:00Z"),
    item("GPT 5 Chat Inpt Glbl 1M Tokens", "1.25", unit="1M", product="Azure OpenAI GPT5"),
    item("GPT 5 Chat cchd Inpt Glbl 1M Tokens", "0.13", unit="1M", product="Azure OpenAI GPT5"),
    item("GPT 5 Chat outpt Glbl 1M Tokens", "10", unit="1M", product="Azure OpenAI GPT5"),
    item("gpt 4o 1120 Batch Inp glbl Tokens", "0.00125"),  # batch: not a request price
    item("gpt 4o 1120 Inp Data Zone Tokens", "0.00275", kind="Reservation"),
    item("gpt 4o 1120 cached Inp Data Zone Tokens", "0.001375"),  # no input/output of its key
    item("Provisioned Managed Regional Unit", "2", unit="1 Hour"),
]


def _prices() -> dict[tuple, tuple]:
    return {
        (p.model, p.model_version, p.deployment_type, p.region, p.effective_from.date().isoformat()): (
            p.input_per_1m, p.cached_input_per_1m, p.output_per_1m,
        )
        for p in ModelPrice.objects.filter(source=SOURCE)
    }  # fmt: skip


def test_items_become_effective_dated_prices_per_type_and_region():
    result = retail_prices_import(items=ITEMS)
    assert (result.items, result.created, result.incomplete) == (13, 4, 1)
    assert sum(result.skipped.values()) == 3
    assert _prices() == {
        ("gpt-4o", "1120", "global", "eastus2", "2024-12-01"): (
            Decimal("2.5"),
            Decimal("1.25"),
            Decimal("10"),
        ),
        ("gpt-4o", "1120", "regional", "swedencentral", "2024-12-01"): (Decimal("2.75"), None, Decimal("11")),
        ("gpt-4o", "1120", "regional", "swedencentral", "2025-03-01"): (
            Decimal("2.75"),
            None,
            Decimal("10.5"),
        ),
        ("gpt-5-chat", "", "global", "eastus2", "2024-12-01"): (
            Decimal("1.25"),
            Decimal("0.13"),
            Decimal("10"),
        ),
    }
    again = retail_prices_import(items=ITEMS)
    assert (again.created, again.unchanged) == (0, 4)
    assert ModelPrice.objects.filter(source=SOURCE).count() == 4


def _cost(model: str, deployment: str, at: dt.datetime) -> tuple[Decimal, str]:
    cost = request_cost(
        book=PriceBook.load(), time=at, model=model, deployment=deployment, token_source=TokenSource.REPORTED,
        prompt_tokens=1_000_000, cached_tokens=0, completion_tokens=1_000_000, images=0, audio_seconds=0,
        is_error=False,
    )  # fmt: skip
    version = cost.price_version
    source = ModelPrice.objects.get(pk=int(version.split("#")[1])).source if "#" in version else version
    return cost.cost, source


def test_cost_uses_azures_price_for_the_deployments_type_and_region_else_genai_prices():
    retail_prices_import(items=ITEMS)
    Deployment.objects.create(name="chat-eu", deployment_type=DeploymentType.REGIONAL, region="swedencentral")
    Deployment.objects.create(name="chat-us", deployment_type=DeploymentType.REGIONAL, region="eastus2")
    january, april = dt.datetime(2025, 1, 10, tzinfo=dt.UTC), dt.datetime(2025, 4, 10, tzinfo=dt.UTC)
    # Regional Sweden: 2.75 + 11 per 1M, then the later output price.
    assert _cost("gpt-4o-2024-11-20", "chat-eu", january) == (Decimal("13.75"), SOURCE)
    assert _cost("gpt-4o-2024-11-20", "chat-eu", april) == (Decimal("13.25"), SOURCE)
    # A deployment not set up in the admin is Global Standard: Azure's global price.
    assert _cost("gpt-4o-2024-11-20", "chat", january) == (Decimal("12.5"), SOURCE)
    # Another version of the model has no Azure price here: the genai-prices default.
    assert _cost("gpt-4o-2024-08-06", "chat", january)[1] == ModelPrice.Source.GENAI_PRICES
    # Regional in a region Azure's prices were not imported for: the global price is the fallback.
    assert _cost("gpt-4o-2024-11-20", "chat-us", january) == (Decimal("12.5"), SOURCE)
    # Before Azure's price took effect: genai-prices.
    assert _cost("gpt-4o-2024-11-20", "chat", dt.datetime(2024, 11, 25, tzinfo=dt.UTC))[1] == (
        ModelPrice.Source.GENAI_PRICES
    )
    # An admin override still wins.
    ModelPrice.objects.create(
        model="gpt-4o", deployment="chat", effective_from=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        input_per_1m=Decimal("1"), output_per_1m=Decimal("1"), source=ModelPrice.Source.ADMIN,
    )  # fmt: skip
    assert _cost("gpt-4o-2024-11-20", "chat", january) == (Decimal("2"), ModelPrice.Source.ADMIN)


class _RetailPricesEmulator(BaseHTTPRequestHandler):
    """Two pages linked by NextPageLink, as the public API serves them."""

    seen: list[dict] = []

    def do_GET(self) -> None:  # noqa: N802
        query = parse_qs(urlparse(self.path).query)
        type(self).seen.append(query)
        port = self.server.server_address[1]
        if "$skip" in query:
            page = {"Items": ITEMS[5:], "NextPageLink": None, "Count": len(ITEMS) - 5}
        else:
            page = {
                "Items": ITEMS[:5],
                "NextPageLink": f"http://127.0.0.1:{port}/api/retail/prices?$skip=5",
                "Count": 5,
            }
        body = json.dumps(page).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def emulator():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RetailPricesEmulator)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _RetailPricesEmulator.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/api/retail/prices"
    server.shutdown()
    server.server_close()


def test_the_command_reads_files_and_fetches_all_pages(emulator, settings, tmp_path, capsys):
    saved = tmp_path / "prices.json"
    saved.write_text(json.dumps({"Items": ITEMS[:3], "NextPageLink": None}))
    call_command("prices_import_azure", str(saved))
    assert "3 items; 1 prices created" in capsys.readouterr().out

    settings.AZURE_RETAIL_PRICES_URL = emulator
    call_command("prices_import_azure", "--fetch")
    assert "13 items; 3 prices created, 1 unchanged" in capsys.readouterr().out
    assert len(_prices()) == 4
    first = _RetailPricesEmulator.seen[0]
    assert "serviceName eq 'Foundry Models'" in first["$filter"][0]

    settings.AZURE_RETAIL_PRICES_URL = "http://127.0.0.1:9/unreachable"
    with pytest.raises(CommandError, match="could not be read"):
        call_command("prices_import_azure", "--fetch")
