"""Cost export import throughput: a generated Cost Management export through ``cost_file_import``.

    .venv/bin/python bench/costs_import.py [--lines 1000000] [--runs 3] [--format cost-details|focus]
                                           [--cache-dir /tmp/aoai-bench-costs] [--database-url URL]

The export is generated once (deterministic, ``--seed``) into ``--cache-dir`` and reused by later
runs: a month of daily lines of Azure OpenAI accounts and meters (every line split in two by tags,
as exports split a day, so the importer adds them up), plus one line in ten of other services
(storage, APIM), which it counts and ignores. Each run empties the cost tables and imports the file
with the real import service in a child process of its own, so the peak resident set size
(``ru_maxrss``) is that run's; prints rows/s and peak RSS per run and their medians.

It uses its own database (default: DATABASE_URL's with ``_bench`` appended to the name), created
and migrated if missing, so it never touches real data.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DAYS = 30
MONTH = date(2026, 3, 1)
# (meter, kind) of the demo's models: every one is read by costs.meters.
METERS = (
    "gpt 4o 1120 Inp glbl Tokens", "gpt 4o 1120 cached Inp glbl Tokens", "gpt 4o 1120 Outp glbl Tokens",
    "gpt-4o-mini-0718-Inp-glbl Tokens", "gpt-4o-mini-0718-Outp-glbl Tokens", "gpt 4.1 Inp glbl Tokens",
    "gpt 4.1 Outp glbl Tokens", "o3 mini 0131 Inp glbl Tokens", "o3 mini 0131 Outp glbl Tokens",
    "text-embedding-3-small Tokens",
)  # fmt: skip
OTHER = (
    ("Microsoft.Storage/storageAccounts/stbench{n}", "Hot LRS Data Stored", "Storage", "Microsoft.Storage"),
    ("Microsoft.ApiManagement/service/apim-bench{n}", "Standard v2 Unit", "API Management", "Microsoft.ApiManagement"),
)  # fmt: skip
COST_DETAILS_HEADER = (
    "Date", "BillingPeriodStartDate", "ResourceId", "MeterName", "MeterCategory", "MeterSubCategory",
    "Quantity", "UnitOfMeasure", "CostInBillingCurrency", "BillingCurrency", "ChargeType", "PricingModel",
    "ConsumedService", "Tags",
)  # fmt: skip
FOCUS_HEADER = (
    "ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "ResourceId", "x_SkuMeterName",
    "x_SkuMeterCategory", "x_SkuMeterSubcategory", "ConsumedQuantity", "ConsumedUnit", "BilledCost",
    "EffectiveCost", "BillingCurrency", "ChargeCategory", "PricingCategory", "x_ResourceType", "Tags",
)  # fmt: skip


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def export_generate(*, path: Path, lines: int, shape: str, seed: int) -> None:
    """Write ``lines`` export lines to ``path`` (two tag-split lines per invoice line)."""
    rng = random.Random(seed)
    aoai = lines - lines // 10
    accounts = max(1, -(-aoai // (DAYS * len(METERS) * 2)))
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COST_DETAILS_HEADER if shape == "cost-details" else FOCUS_HEADER)
        written = 0
        while written < lines:
            for day_number in range(DAYS):
                day = MONTH + timedelta(days=day_number)
                for account in range(accounts):
                    resource_id = (
                        f"/subscriptions/00000000-0000-0000-0000-{account:012d}/resourceGroups/rg-ai"
                        f"/providers/Microsoft.CognitiveServices/accounts/aoai-bench-{account}"
                    )
                    for meter in METERS:
                        for team in ("a", "b"):
                            if written >= aoai:
                                break
                            quantity = rng.randint(1, 50_000) / 100
                            cost = quantity * rng.choice((0.00015, 0.0025, 0.01)) * 1000
                            writer.writerow(
                                _row(shape, day, resource_id, meter, ("Foundry Models", "Azure OpenAI"),
                                     "Microsoft.CognitiveServices", quantity, cost, team)
                            )  # fmt: skip
                            written += 1
                if written >= aoai:
                    break
            while aoai <= written < lines:
                template, meter, category, service = OTHER[written % 2]
                resource_id = "/subscriptions/0/resourceGroups/rg-other/providers/" + template.format(
                    n=written
                )
                writer.writerow(
                    _row(shape, MONTH + timedelta(days=written % DAYS), resource_id, meter,
                         (category, category), service, 1.0, 0.5, "a")
                )  # fmt: skip
                written += 1
    tmp.rename(path)


def _row(
    shape: str,
    day: date,
    resource_id: str,
    meter: str,
    category: tuple[str, str],
    service: str,
    quantity: float,
    cost: float,
    team: str,
) -> list[str]:
    tags = json.dumps({"team": team})
    if shape == "cost-details":
        return [
            day.strftime("%m/%d/%Y"), MONTH.strftime("%m/%d/%Y"), resource_id, meter, *category,
            f"{quantity:.2f}", "1K", f"{cost:.6f}", "USD", "Usage", "OnDemand", service, tags,
        ]  # fmt: skip
    return [
        f"{day.isoformat()}T00:00:00Z", f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z",
        f"{MONTH.isoformat()}T00:00:00Z", resource_id, meter, *category, f"{quantity:.2f}", "1K",
        f"{cost:.6f}", f"{cost:.6f}", "USD", "Usage", "Standard", service, tags,
    ]  # fmt: skip


def _child(path: Path) -> None:
    """One run: empty the cost tables, import ``path``, print the figures as JSON."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aoai_portal.settings")
    django.setup()
    from django.db import connection

    from costs.models import CostImport, CostLine, CostRejectedLine
    from costs.services import cost_file_import

    tables = [m._meta.db_table for m in (CostRejectedLine, CostLine, CostImport)]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("TRUNCATE " + ", ".join(tables) + " CASCADE")
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")
    started = time.perf_counter()
    result = cost_file_import(path=path)
    seconds = time.perf_counter() - started
    print(json.dumps({
        "seconds": seconds, "read": result.read, "stored": result.stored, "ignored": result.ignored,
        "rejected": result.rejected, "lines": result.lines, "error": result.error, "rss_mb": _peak_rss_mb(),
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--format", choices=["cost-details", "focus"], default="cost-details")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/aoai-bench-costs"))
    parser.add_argument("--database-url", default="")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return

    from bench.databases import bench_database_ensure, bench_database_url

    url = args.database_url or bench_database_url(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/aoai_portal"), suffix="_bench"
    )
    bench_database_ensure(url)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    path = args.cache_dir / f"costs-{args.format}-lines{args.lines}-seed{args.seed}.csv"
    if not path.exists():
        print(f"generating {args.lines} lines into {path}…", flush=True)
        started = time.perf_counter()
        export_generate(path=path, lines=args.lines, shape=args.format, seed=args.seed)
        print(f"  {time.perf_counter() - started:.1f} s, {path.stat().st_size / 1e6:.0f} MB", flush=True)
    rates, peaks = [], []
    for run in range(1, args.runs + 1):
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(path)],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "aoai_portal.settings"},
        )
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        if figures["error"]:
            sys.exit(f"run {run}: {figures['error']}")
        rate = figures["read"] / figures["seconds"]
        rates.append(rate)
        peaks.append(figures["rss_mb"])
        print(
            f"run {run}: {figures['read']} lines in {figures['seconds']:.1f} s = {rate:,.0f} rows/s;"
            f" {figures['stored']} stored ({figures['lines']} invoice lines), {figures['ignored']} ignored,"
            f" {figures['rejected']} rejected; peak RSS {figures['rss_mb']:.0f} MB",
            flush=True,
        )
    print(
        f"{args.format}, {args.lines} lines, median of {args.runs}: {statistics.median(rates):,.0f} rows/s,"
        f" peak RSS {statistics.median(peaks):.0f} MB"
    )


if __name__ == "__main__":
    main()
