"""A generated month of gateway requests for the chargeback tests, and its right answer.

The expected figures are computed here straight from the generated rows (plain Python over the
dicts that were inserted), never through ``usage.chargeback``; the tests compare pages, exports
and the API against them.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from html import unescape

from usage.measures import CHARGEBACK_MEASURES, TOKEN_MEASURES
from usage.models import CostCenter, CostCenterAssignment, GatewayRequest, TokenSource
from usage.rollups.hourly import rollup_refresh_hours

MONTH = date(2026, 10, 1)
BEGIN = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)
MICRO = timedelta(microseconds=1)

COST_CENTERS = {"RND": "Research", "FIN": "Finance", "OPS": "Operations"}
# subscription -> product
SUBSCRIPTIONS = {
    "sub-alpha": "prod-shared",
    "sub-bravo": "prod-shared",  # own assignment (FIN) wins over prod-shared's (RND)
    "sub-charlie": "prod-shared",
    "sub-delta": "prod-ops",
    "sub-echo": "prod-ops",
    "sub-foxtrot": "prod-orphan",  # unassigned
    "sub-golf": "",  # unassigned, no product
}
PRODUCT_ASSIGNMENTS = {"prod-shared": "RND", "prod-ops": "OPS"}
SUBSCRIPTION_ASSIGNMENTS = {"sub-bravo": "FIN", "sub-echo": "FIN"}
DEPLOYMENTS = {
    "chat-prod": "gpt-4o",
    "chat-mini": "gpt-4o-mini",
    "reasoner": "o3-mini",
    "embed": "text-embedding-3-small",
}


def cost_center_of(subscription: str, product: str) -> str:
    """The test's own reading of the rule: subscription assignment, else product's, else ""."""
    if subscription in SUBSCRIPTION_ASSIGNMENTS:
        return SUBSCRIPTION_ASSIGNMENTS[subscription]
    return PRODUCT_ASSIGNMENTS.get(product, "")


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass
class World:
    rows: list[dict] = field(default_factory=list)

    def in_month(self, begin: datetime = BEGIN, end: datetime = END) -> list[dict]:
        return [r for r in self.rows if begin <= r["time"] < end]

    def expected(self, key, begin: datetime = BEGIN, end: datetime = END) -> dict[str, dict]:
        """Measures per ``key(row)`` over rows in [begin, end)."""
        result: dict[str, dict] = defaultdict(
            lambda: dict.fromkeys(CHARGEBACK_MEASURES, 0) | {"cost": Decimal(0)}
        )
        for row in self.in_month(begin, end):
            totals = result[key(row)]
            totals["requests"] += 1
            for name in TOKEN_MEASURES:
                totals[name] += row[name]
            if row["token_source"] == TokenSource.ESTIMATED:
                totals["estimated_tokens"] += row["total_tokens"]
            if not row["is_priced"]:
                totals["unpriced_tokens"] += row["total_tokens"]
            totals["cost"] += row["cost"]
        return dict(result)

    def total(self, begin: datetime = BEGIN, end: datetime = END) -> dict:
        return self.expected(lambda r: "all", begin, end).get("all") or dict.fromkeys(
            CHARGEBACK_MEASURES, 0
        ) | {"cost": Decimal(0)}


def cost_centers_create() -> None:
    centers = {code: CostCenter.objects.create(code=code, name=name) for code, name in COST_CENTERS.items()}
    for product, code in PRODUCT_ASSIGNMENTS.items():
        CostCenterAssignment.objects.create(kind="product", key=product, cost_center=centers[code])
    for subscription, code in SUBSCRIPTION_ASSIGNMENTS.items():
        CostCenterAssignment.objects.create(kind="subscription", key=subscription, cost_center=centers[code])


def request_row(rng: random.Random, when: datetime, number: int, **overrides) -> dict:
    subscription = rng.choice(sorted(SUBSCRIPTIONS))
    deployment = rng.choice(sorted(DEPLOYMENTS))
    code = rng.choice([200] * 12 + [429, 500, 400])
    ok = code == 200
    prompt = rng.randint(1, 40_000) if ok else 0
    cached = rng.randint(0, prompt // 2) if ok and rng.random() < 0.4 else 0
    completion = rng.randint(0, 6_000) if ok and deployment != "embed" else 0
    reasoning = rng.randint(0, completion) if deployment == "reasoner" else 0
    priced = ok and rng.random() > 0.1
    source = rng.choice(
        [TokenSource.REPORTED, TokenSource.REPORTED, TokenSource.LLM_LOG, TokenSource.ESTIMATED]
    )
    row = {
        "correlation_id": f"cb-{number:06d}",
        "time": when,
        "apim_subscription_id": subscription,
        "product_id": SUBSCRIPTIONS[subscription],
        "deployment": deployment,
        "model": DEPLOYMENTS[deployment],
        "response_code": code,
        "backend_region": rng.choice(["swedencentral", "eastus2"]),
        "apim_region": "West Europe",
        "prompt_tokens": prompt,
        "cached_tokens": cached,
        "completion_tokens": completion,
        "reasoning_tokens": reasoning,
        "total_tokens": prompt + completion,
        "token_source": source if ok else TokenSource.NONE,
        "is_priced": priced,
        # Exact to 8 places, as accounting stores it; up to a few dollars a request.
        "cost": Decimal(rng.randint(1, 400_000_000)) / Decimal(10**8) if priced else Decimal(0),
        "currency": "USD",
    }
    row.update(overrides)
    return row


def requests_store(rows: list[dict]) -> None:
    GatewayRequest.objects.bulk_create([GatewayRequest(**row) for row in rows])
    rollup_refresh_hours(hours={row["time"] for row in rows})


def world_build(*, seed: int = 5, count: int = 180) -> World:
    """Cost centers + a month of requests, with rows just before and after both boundaries."""
    rng = random.Random(seed)
    cost_centers_create()
    world = World()
    # Any day of the month, but two hours of each: the rollup is refreshed per hour, and
    # fewer hours keep the tests fast without making the data less varied where it matters.
    for number in range(count):
        when = BEGIN + timedelta(
            days=rng.randrange(31),
            hours=rng.choice((9, 10)),
            seconds=rng.randrange(3600),
            microseconds=rng.randrange(10**6),
        )
        world.rows.append(request_row(rng, when, number))
    edges = [BEGIN - MICRO, BEGIN, END - MICRO, END, BEGIN - timedelta(hours=1), END + timedelta(minutes=30)]
    for offset, when in enumerate(edges):
        world.rows.append(request_row(rng, when, count + offset, response_code=200))
    requests_store(world.rows)
    return world


def money_text(value: Decimal) -> str:
    """How the page prints an amount (the test's own formatting rule)."""
    amount = cents(value)
    return ("−" if amount < 0 else "") + f"{abs(amount):,.2f}"


def number_text(value: int) -> str:
    return f"{value:,}".replace("-", "−")


_ROW = re.compile(r'<tr[^>]*data-group="([^"]*)"[^>]*>(.*?)</tr>', re.S)
_CELL = re.compile(r'<td[^>]*data-measure="([a-z_]+)"[^>]*>(.*?)</td>', re.S)
_TAG = re.compile(r"<[^>]+>")


def page_table(html: str, table_id: str) -> dict[str, dict[str, str]]:
    """{group: {measure: displayed text}} of one table on a chargeback page; "(total)" = its total row."""
    start = html.index(f'id="{table_id}"')
    end = html.index("</table>", start)
    table = {}
    for group, body in _ROW.findall(html[start:end]):
        table[unescape(group)] = {name: _TAG.sub("", text).strip() for name, text in _CELL.findall(body)}
    return table


def expected_texts(measures: dict) -> dict[str, str]:
    texts = {name: number_text(measures[name]) for name in CHARGEBACK_MEASURES if name != "cost"}
    texts["cost"] = money_text(measures["cost"])
    return texts
