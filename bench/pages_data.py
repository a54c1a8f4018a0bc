"""The generated request table of bench/pages.py: the request generator (gateway and native
rows, stored with COPY), the review items flagged on it, and the rollup rebuild and
recompute-in-place and hourly-horizon helpers that time and report the rollups built from it."""

from __future__ import annotations

import json
import math
import random
import time
from datetime import UTC, date, datetime, timedelta

SUBSCRIPTIONS = 40
PRODUCTS = 5
DEPLOYMENTS = [
    ("gpt-4o", "gpt-4o"),
    ("gpt-4o-mini", "gpt-4o-mini"),
    ("gpt-4.1", "gpt-4.1"),
    ("emb-3-large", "text-embedding-3-large"),
]
# backend region -> (mu, sigma) of the lognormal total time in ms
REGIONS = {
    "swedencentral": (6.6, 0.5),
    "eastus2": (6.2, 0.4),
    "francecentral": (6.9, 0.7),
    "japaneast": (7.2, 0.6),
}
APIM_REGIONS = ["West Europe", "East US"]
MARKER = "bench-pages"  # GatewayRequest.api_id of generated rows


def _generate_rows(*, requests: int, start: datetime, end: datetime, seed: int):
    """Yield (gateway row dict, native row dict or None), times spread evenly over [start, end)."""
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    region_names = list(REGIONS)
    for n in range(requests):
        moment = start + timedelta(seconds=span * (n + rng.random()) / requests)
        subscription = f"sub-{rng.randrange(SUBSCRIPTIONS):03d}"
        product = f"product-{int(subscription[-3:]) % PRODUCTS}"
        deployment, model = DEPLOYMENTS[min(int(rng.expovariate(0.9)), len(DEPLOYMENTS) - 1)]
        region = region_names[rng.randrange(len(region_names))]
        mu, sigma = REGIONS[region]
        # A little diurnal swing so the heatmap has something to show.
        mu += 0.25 * math.sin(moment.hour / 24 * 2 * math.pi)
        draw = rng.random()
        code = 200 if draw < 0.93 else 429 if draw < 0.97 else 400 if draw < 0.99 else 503
        streaming = deployment != "emb-3-large" and rng.random() < 0.3
        total = rng.lognormvariate(mu, sigma)
        backend = total * rng.uniform(0.85, 0.98) if code != 429 else None
        prompt = rng.randrange(20, 3000) if code == 200 else 0
        completion = (0 if deployment == "emb-3-large" else rng.randrange(5, 800)) if code == 200 else 0
        correlation = f"{MARKER}-{n:09d}"
        apim_request_id = f"aoai-{n:09d}" if backend is not None else ""
        row = {
            "correlation_id": correlation,
            "time": moment,
            "apim_subscription_id": subscription,
            "product_id": product,
            "api_id": MARKER,
            "operation_id": "embeddings_create" if deployment == "emb-3-large" else "ChatCompletions_Create",
            "method": "POST",
            "url": f"https://apim.example.net/openai/deployments/{deployment}/chat/completions",
            "deployment": deployment,
            "api_version": "2024-10-21",
            "response_code": code,
            "backend_response_code": code if backend is not None else None,
            "is_request_success": code == 200,
            "total_time_ms": total,
            "backend_time_ms": backend,
            "apim_region": APIM_REGIONS[rng.randrange(len(APIM_REGIONS))],
            "backend_region": region,
            "apim_request_id": apim_request_id,
            "ratelimit_remaining_requests": rng.randrange(0, 1000) if backend is not None else None,
            "ratelimit_remaining_tokens": rng.randrange(0, 200_000) if backend is not None else None,
            "operation": "embeddings" if deployment == "emb-3-large" else "chat",
            "model": model,
            "is_streaming": streaming,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "token_source": "reported" if code == 200 else "none",
            "cost": round((prompt * 2.5 + completion * 10) / 1_000_000, 8),
            "currency": "USD",
            "is_priced": True,
            "usage_computed_at": moment,
            "ingested_at": moment,
        }
        native = None
        if backend is not None:
            native = {
                "correlation_id": apim_request_id,
                "time": moment,
                "operation_name": "ChatCompletions_Create",
                "result_signature": str(code),
                "duration_ms": max(backend - rng.uniform(1, 15), 0.5),
                "location": region,
                "model_deployment": deployment,
                "model_name": model,
                "ingested_at": moment,
            }
        yield row, native


def _column_values(model, rows: list[dict]) -> tuple[list[str], list[tuple]]:
    """All concrete columns of ``model`` (defaults where a row has no value), as COPY values.

    The generated values are already what the driver sends (text, numbers, booleans, aware
    times), so only JSON is encoded here: a field method per value was most of the generator's
    time at 10M requests."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    plan = [(f.attname, f.get_default(), f.get_internal_type() == "JSONField") for f in fields]
    values = []
    for row in rows:
        get = row.get
        values.append(
            tuple(
                json.dumps(get(name, default)) if is_json else get(name, default)
                for name, default, is_json in plan
            )
        )
    return [f.column for f in fields], values


def _store(model, rows: list[dict]) -> None:
    from django.db import connection

    if not rows:
        return
    if connection.vendor == "postgresql":
        columns, values = _column_values(model, rows)
        table = model._meta.db_table
        with connection.cursor() as cursor:
            copy_sql = f'COPY "{table}" ({", ".join(columns)}) FROM STDIN'
            with cursor.cursor.copy(copy_sql) as copy:
                for value in values:
                    copy.write_row(value)
    else:
        model.objects.bulk_create([model(**row) for row in rows], batch_size=500)


def generate(
    *, requests: int, months: list[date], regenerate: bool, rebuild: bool = False
) -> tuple[datetime, datetime]:
    from django.db import connection, transaction

    from aoai_portal.months import month_bounds
    from usage.models import (
        CostCenter,
        CostCenterAssignment,
        GatewayRequest,
        LatencyDaily,
        LatencyHourOfDay,
        LatencySubscriptionDaily,
        LatencySubscriptionRegionDaily,
        NativeLog,
        UsageDaily,
        UsageHourly,
    )

    start = datetime.combine(months[0], datetime.min.time(), tzinfo=UTC)
    last = months[-1]
    end = month_bounds(last)[1]
    existing = GatewayRequest.objects.filter(api_id=MARKER).count()
    if existing == requests and not regenerate:
        print(f"reusing {existing:,} generated requests in {connection.settings_dict['NAME']}")
        if rebuild or not (UsageHourly.objects.exists() and LatencyDaily.objects.exists()):
            _rollups_clear()
            _rollups_rebuild(start, end, requests)
        return start, end
    print(f"generating {requests:,} requests from {start:%Y-%m-%d} to {end:%Y-%m-%d} ...", flush=True)
    began = time.perf_counter()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "TRUNCATE usage_gatewayrequest, usage_nativelog, usage_usagehourly, usage_latencydaily, "
                    "usage_latencyhourofday, usage_latencysubscriptiondaily, usage_latencysubscriptionregiondaily, "
                    "usage_usagedaily, "
                    "audit_reviewevent, audit_reviewitem, audit_flag "
                    "RESTART IDENTITY CASCADE"
                )
        else:
            UsageHourly.objects.all().delete()
            LatencyDaily.objects.all().delete()
            LatencyHourOfDay.objects.all().delete()
            LatencySubscriptionDaily.objects.all().delete()
            LatencySubscriptionRegionDaily.objects.all().delete()
            UsageDaily.objects.all().delete()
            NativeLog.objects.all().delete()
            GatewayRequest.objects.all().delete()
        gateway: list[dict] = []
        native: list[dict] = []
        for row, partner in _generate_rows(requests=requests, start=start, end=end, seed=20260301):
            gateway.append(row)
            if partner:
                native.append(partner)
            if len(gateway) >= 50_000:
                _store(GatewayRequest, gateway)
                _store(NativeLog, native)
                gateway, native = [], []
        _store(GatewayRequest, gateway)
        _store(NativeLog, native)
        for i in range(4):
            center, _ = CostCenter.objects.get_or_create(
                code=f"CC-{i}", defaults={"name": f"Cost center {i}"}
            )
            CostCenterAssignment.objects.get_or_create(
                kind=CostCenterAssignment.Kind.PRODUCT, key=f"product-{i}", defaults={"cost_center": center}
            )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE usage_gatewayrequest; ANALYZE usage_nativelog")
    stored = time.perf_counter() - began
    print(f"  stored in {stored:.1f} s ({requests / stored:,.0f} requests/s)")
    _rollups_rebuild(start, end, requests)
    return start, end


def review_items_generate(*, every: int = 100) -> int:
    """Flag every ``every``-th successful generated request (1 %) so the review queue has real work.

    One or two detector flags per request and a review item in a realistic state mix (most open).
    Skipped when the generated requests already have review items.
    """
    from audit.models import Flag, ReviewItem, Severity
    from usage.models import GatewayRequest

    if ReviewItem.objects.filter(request__api_id=MARKER).exists():
        return 0
    rng = random.Random(7)
    detectors = [("detector:email", "E-mail address"), ("detector:jailbreak", "Jailbreak phrase")]
    detectors += [("detector:secret", "Secret"), ("detector:card", "Payment card number")]
    statuses = [ReviewItem.Status.OPEN] * 7 + [ReviewItem.Status.IN_REVIEW, ReviewItem.Status.DISMISSED]
    statuses += [ReviewItem.Status.CONFIRMED]
    ids = (
        GatewayRequest.objects.filter(api_id=MARKER, response_code=200)
        .order_by("id")
        .values_list("id", "time", "apim_subscription_id", "product_id")
    )
    flags: list = []
    items: list = []
    created = 0
    for n, (request_id, request_time, subscription, product) in enumerate(ids.iterator(chunk_size=20_000)):
        if n % every:
            continue
        worst = 0
        for source, name in rng.sample(detectors, rng.choice((1, 1, 2))):
            severity = rng.choice(Severity.values)
            worst = max(worst, severity)
            flags.append(
                Flag(
                    request_id=request_id,
                    source=source,
                    name=name,
                    severity=severity,
                    spans=[{"part": "prompt", "message": 0, "start": 0, "end": 5, "label": name}],
                )
            )
        items.append(
            ReviewItem(
                request_id=request_id,
                status=rng.choice(statuses),
                severity=worst,
                request_time=request_time,
                apim_subscription_id=subscription,
                product_id=product,
            )
        )
        if len(items) >= 5_000:
            Flag.objects.bulk_create(flags)
            ReviewItem.objects.bulk_create(items)
            created += len(items)
            flags, items = [], []
    Flag.objects.bulk_create(flags)
    ReviewItem.objects.bulk_create(items)
    return created + len(items)


def _rollups_clear() -> None:
    """Empty every rollup table, so a rebuild on reused requests writes them as after generating."""
    from django.db import connection

    from usage import models

    tables = [
        models.UsageHourly,
        models.UsageDaily,
        models.TokensPerMinuteHourly,
        models.LatencyDaily,
        models.LatencyHourOfDay,
        models.LatencySubscriptionDaily,
        models.LatencySubscriptionRegionDaily,
        models.LatencyDailySpan,
        models.LatencyHourOfDaySpan,
        models.LatencyPendingHour,
    ]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE " + ", ".join(m._meta.db_table for m in tables))
    else:
        for model in tables:
            model.objects.all().delete()


def _rollups_rebuild(start: datetime, end: datetime, requests: int) -> None:
    from django.db import connection

    from usage.models import (
        LatencyDaily,
        LatencyHourOfDay,
        LatencySubscriptionDaily,
        LatencySubscriptionRegionDaily,
    )
    from usage.rollups.hourly import rollup_refresh_range

    began = time.perf_counter()
    rollups = rollup_refresh_range(start=start, end=end)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE usage_usagehourly")
            cursor.execute("VACUUM ANALYZE usage_latencydaily")
            cursor.execute("VACUUM ANALYZE usage_latencyhourofday")
            cursor.execute("VACUUM ANALYZE usage_latencysubscriptiondaily")
            cursor.execute("VACUUM ANALYZE usage_latencysubscriptionregiondaily")
    took = time.perf_counter() - began
    print(
        f"  rollups rebuilt: {rollups:,} hourly rows, {LatencyDaily.objects.count():,} daily and "
        f"{LatencyHourOfDay.objects.count():,} hour-of-day and "
        f"{LatencySubscriptionDaily.objects.count():,} per-subscription latency rows "
        f"({LatencySubscriptionRegionDaily.objects.count():,} per subscription and region) "
        f"in {took:.1f} s ({requests / took:,.0f} requests/s); "
        f"{rollups / max(requests, 1):.2f} hourly rows per request (before the hourly horizon applies)"
    )


def _month_rebuild(month_start: datetime, month_end: datetime, label: str) -> None:
    """Recompute one month's rollups over the rollups already there, as re-pricing the month or
    changing a rollup does, and print how long it took."""
    from usage.models import GatewayRequest
    from usage.rollups.hourly import rollup_refresh_range

    requests = GatewayRequest.objects.filter(time__gte=month_start, time__lt=month_end).count()
    began = time.perf_counter()
    rollup_refresh_range(start=month_start, end=month_end)
    took = time.perf_counter() - began
    print(
        f"  the rollups of {label} recomputed in place in {took:.1f} s "
        f"({requests:,} requests in the month, {requests / took:,.0f} requests/s)"
    )


def _hourly_horizon_apply(requests: int) -> None:
    """Prune the hourly rollup rows past the hourly horizon (what the nightly task does; rollups
    reused from before it hold them) and print the hourly rows per request before and after."""
    from usage.models import UsageHourly
    from usage.rollups.hourly_prune import hourly_rollups_prune

    before = UsageHourly.objects.count()
    result = hourly_rollups_prune()
    after = UsageHourly.objects.count()
    horizon = f"from {result.horizon:%Y-%m-%d}" if result.horizon else "off (PORTAL_HOURLY_ROLLUP_MONTHS=0)"
    print(
        f"  hourly horizon {horizon}: {before / max(requests, 1):.2f} hourly rows per request stored, "
        f"{after / max(requests, 1):.2f} after it applies ({result.rows:,} rows of {len(result.days)} days pruned)"
    )
