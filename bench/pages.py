"""Page and API timings over a large generated request table (issue 9).

    .venv/bin/python bench/pages.py [--requests 1000000] [--months 3] [--runs 20] [--regenerate]
                                    [--database-url URL] [--only SUBSTRING]
                                    [--rebuild] [--month-rebuild] [--portable-rollups]

1. Generates ``--requests`` gateway requests (plus a native log row for each successful one)
   spread over ``--months`` whole UTC months ending with the current month, with realistic
   cardinality (subscriptions, products, deployments/models, backend and APIM regions, streaming
   share, 2xx/4xx/429/5xx mix, lognormal latencies per region). PostgreSQL: ``COPY``; SQLite:
   ``bulk_create`` (slow; use small sizes there). Then rebuilds the hourly rollups from scratch
   with ``rollup_refresh_range`` and prints its rate and the hourly rollup rows per request, before
   and after the hourly horizon applies (``PORTAL_HOURLY_ROLLUP_MONTHS``: the prune runs). A
   database already holding exactly that many generated requests is reused (``--regenerate``
   forces a new one; ``--rebuild`` empties the rollups and rebuilds them on it;
   ``--portable-rollups`` rebuilds through the portable ORM path instead of PostgreSQL's fast
   ones, in one thread;
   ``--month-rebuild`` also times recomputing the timed month's rollups in place).
2. Times every page and API endpoint that exists (by URL, through Django's test client signed in
   as an admin, so the time is server time: middleware, queries, template): one warm-up request,
   then the median of ``--runs``. URLs that do not resolve (pages of other issues not built yet)
   are listed as missing.
3. Computes the chargeback answer of the last full month by scanning the request table directly
   (GROUP BY subscription/product over the month's raw rows), median of ``--runs``, so the ratio
   to the rollup-backed page shows.

It uses its own database (default: DATABASE_URL's name with ``_pages`` appended), created and
migrated if missing, so it never touches real data.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pages_data import _hourly_horizon_apply, _month_rebuild, generate, review_items_generate  # noqa: E402


def _months(end_month: date, count: int) -> list[date]:
    from aoai_portal.months import month_add

    return [month_add(end_month, -back) for back in range(count - 1, -1, -1)]


def disk_per_request(requests: int) -> str:
    """Bytes on disk per request (PostgreSQL): the request and native log tables with their
    partitions, indexes and TOAST, the part of it that is request/response bodies, and the
    rollup tables."""
    from django.db import connection

    if connection.vendor != "postgresql" or not requests:
        return "bytes on disk: PostgreSQL only"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('usage_gatewayrequest')),"
            " pg_total_relation_size('usage_nativelog'),"
            " (SELECT coalesce(sum(pg_column_size(request_body) + pg_column_size(response_body)), 0)"
            "  FROM usage_gatewayrequest),"
            " (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c"
            "  JOIN pg_namespace n ON n.oid = c.relnamespace"
            "  WHERE n.nspname = 'public' AND c.relkind = 'r' AND (c.relname LIKE 'usage_usage%%'"
            "  OR c.relname LIKE 'usage_latency%%' OR c.relname LIKE 'usage_tokensperminute%%'))"
        )
        gateway, native, bodies, rollups = (int(v or 0) for v in cursor.fetchone())
    logs = gateway + native
    return (
        f"bytes on disk per request: {logs / requests:,.0f} with bodies, "
        f"{(logs - bodies) / requests:,.0f} without (request and native tables, indexes, TOAST); "
        f"rollups {rollups / requests:,.0f}"
    )


def _statistics_ensure() -> None:
    """VACUUM (ANALYZE) every table when the server runs without autovacuum (this machine's does):
    a production server keeps planner statistics and visibility maps, and tables a migration
    backfilled or the bench filled would otherwise be planned as if empty, and their index-only
    scans would visit the heap for every row. Then a CHECKPOINT, so that the writes of a fresh
    backfill are not flushed in the middle of the timings."""
    from django.db import DatabaseError, connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        if cursor.fetchone()[0] == "off":
            began = time.perf_counter()
            cursor.execute("VACUUM (ANALYZE)")
            print(
                f"  autovacuum is off on this server: VACUUM (ANALYZE) of every table took "
                f"{time.perf_counter() - began:.1f} s"
            )
        try:
            # Flush what generation and migrations (backfills) left dirty now, not during the timings.
            cursor.execute("CHECKPOINT")
        except DatabaseError:
            pass  # not a superuser: the timings may then include a checkpoint's writes


def _median_ms(call, runs: int) -> tuple[float, object]:
    result = call()  # warm-up
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), result


def chargeback_by_scan(month_start: datetime, month_end: datetime) -> dict:
    """The month's cost per cost center straight from the request table (what rollups avoid)."""
    from django.db.models import Count, Sum

    from usage.chargeback.selectors.cost_centers import cost_center_resolver
    from usage.models import GatewayRequest

    resolve = cost_center_resolver()
    totals: dict[str, list] = {}
    rows = (
        GatewayRequest.objects.filter(time__gte=month_start, time__lt=month_end)
        .values("apim_subscription_id", "product_id")
        .annotate(cost=Sum("cost"), tokens=Sum("total_tokens"), requests=Count("id"))
        .order_by()
    )
    for row in rows:
        code = resolve(row["apim_subscription_id"], row["product_id"]).code
        entry = totals.setdefault(code, [0, 0, 0])
        entry[0] += row["cost"] or 0
        entry[1] += row["tokens"] or 0
        entry[2] += row["requests"]
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--only", default="", help="time only the targets whose name contains this text")
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="rebuild the rollups from scratch even when reusing the requests",
    )
    parser.add_argument(
        "--month-rebuild",
        action="store_true",
        help="also time recomputing the timed month's rollups in place (a re-pricing or rollup change)",
    )
    parser.add_argument(
        "--portable-rollups",
        action="store_true",
        help="rebuild through the portable ORM path (the rollups' PostgreSQL fast paths off), for comparison",
    )
    args = parser.parse_args()

    from bench.databases import bench_database_ensure, bench_database_url

    url = args.database_url or bench_database_url(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/aoai_portal"), suffix="_pages"
    )
    bench_database_ensure(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aoai_portal.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import Resolver404, resolve

    from aoai_portal.months import month_bounds, month_current
    from usage.models import GatewayRequest, UsageHourly

    setup_test_environment()  # lets the test client run against this database
    # ... but without its template instrumentation: it copies every template's context for the
    # client (``response.context``), work a real server never does.
    from django.template import Template
    from django.test.utils import _TestState

    Template._render = _TestState.saved_data.template_render
    months = _months(month_current(), args.months)
    if args.portable_rollups:
        import usage.db.copy
        import usage.rollups.hourly_sql
        import usage.rollups.latency_alongside
        import usage.rollups.latency_sql
        import usage.rollups.tokens_per_minute

        usage.rollups.hourly_sql.HOURLY_SQL_FAST_PATH = False
        usage.rollups.tokens_per_minute.TPM_SQL_FAST_PATH = False
        usage.rollups.latency_sql.LATENCY_SQL_FAST_PATH = False
        usage.rollups.latency_alongside.LATENCY_ALONGSIDE = False
        usage.db.copy.ROWS_COPY_FAST_PATH = False
    start, end = generate(
        requests=args.requests, months=months, regenerate=args.regenerate, rebuild=args.rebuild
    )
    flagged = review_items_generate()
    if flagged:
        print(f"  flagged {flagged:,} requests for the review queue")
    # Quota tiers sized from the data (the demo's seed: product tiers, one subscription near its
    # quota, one over, one on a low tokens-per-minute limit), so the quota page runs its drift checks.
    from quotas.demo import quota_demo_seed

    if quota_demo_seed(now=datetime.now(UTC)):
        print("  assigned quota tiers (quotas.demo.quota_demo_seed)")
    _hourly_horizon_apply(GatewayRequest.objects.count())
    _statistics_ensure()
    full_month = months[-2] if len(months) > 1 else months[-1]
    month_start, month_end = month_bounds(full_month)
    m = full_month.strftime("%Y-%m")
    m_from, m_to = month_start.date().isoformat(), (month_end - timedelta(days=1)).date().isoformat()
    sample = (
        GatewayRequest.objects.filter(time__gte=month_start)
        .order_by("time")
        .values_list("correlation_id", flat=True)
        .first()
    )
    print(
        f"request rows: {GatewayRequest.objects.count():,}; rollup rows: {UsageHourly.objects.count():,}; "
        f"timed month {m}; {args.runs} runs each, median"
    )
    print(disk_per_request(GatewayRequest.objects.count()))
    if args.month_rebuild:
        _month_rebuild(month_start, month_end, m)

    admin, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client()
    client.force_login(admin)

    targets = [
        ("chargeback month", f"/chargeback/?month={m}"),
        ("chargeback drill-down (cost center)", f"/chargeback/?month={m}&cost_center=CC-1"),
        (
            "chargeback drill-down (subscription)",
            f"/chargeback/?month={m}&cost_center=CC-1&subscription=sub-001",
        ),
        ("request detail (drill-down to one request)", f"/requests/{sample}/"),
        ("latency overview (default: last 7 days)", "/latency/"),
        ("latency overview (full month)", f"/latency/?from={m_from}&to={m_to}"),
        (
            "latency overview (month, one subscription)",
            f"/latency/?from={m_from}&to={m_to}&subscription=sub-001",
        ),
        (
            "latency heatmap data (API, hour_of_day, month)",
            f"/api/v1/latency?from={m_from}&to={m_to}&group_by=hour_of_day",
        ),
        ("latency API (region, month)", f"/api/v1/latency?from={m_from}&to={m_to}&group_by=region"),
        ("chargeback API (month)", f"/api/v1/chargeback?month={m}"),
        ("usage API (month, daily)", f"/api/v1/usage?from={m_from}&to={m_to}"),
        ("review queue", "/review/"),
        ("review queue (open, high severity first)", "/review/?status=open&order=severity"),
        ("review queue (one cost center, page 3)", "/review/?cost_center=CC-1&page=3"),
        ("request explorer (default: newest)", "/requests/"),
        (
            "request explorer (month, one subscription, 5xx)",
            f"/requests/?from={m_from}&to={m_to}&subscription=sub-001&status=5xx",
        ),
        ("request explorer (one deployment, flagged)", "/requests/?deployment=gpt-4o&flag=any"),
        ("request explorer (a status that never occurs)", "/requests/?status=unknown"),
        ("quotas", "/quotas/"),
        ("quotas API", "/api/v1/quotas"),
        ("ingestion status", "/ingestion/"),
    ]
    print(f"\n{'what':48} {'median ms':>10} {'status':>6}  url")
    figures = {}
    for name, target in targets:
        if args.only.lower() not in name.lower():
            continue
        try:
            resolve(urlsplit(target).path)
        except Resolver404:
            print(f"{name:48} {'missing':>10} {'':>6}  {target}")
            continue
        median, response = _median_ms(lambda t=target: client.get(t), args.runs)
        figures[name] = median
        print(f"{name:48} {median:10.1f} {response.status_code:>6}  {target}")

    if args.only.lower() not in "chargeback by scanning the request table":
        return
    scan_ms, answer = _median_ms(lambda: chargeback_by_scan(month_start, month_end), args.runs)
    print(
        f"{'chargeback by scanning the request table':48} {scan_ms:10.1f} {'':>6}  (GROUP BY over raw rows)"
    )
    page = figures.get("chargeback API (month)") or figures.get("chargeback month")
    if page:
        print(f"\nscan / rollup-backed chargeback: {scan_ms / page:.1f}x")
    print(f"(scan found {sum(v[2] for v in answer.values()):,} requests in {m})")


if __name__ == "__main__":
    main()
