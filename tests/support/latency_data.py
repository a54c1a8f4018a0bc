"""Generated requests with known latency distributions, for the latency and rollup tests."""

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from tests.factories import gateway_request
from usage.models import GatewayRequest, NativeLog


@dataclass(frozen=True)
class RegionProfile:
    """Lognormal total time (ms) with median exp(mu); backend is a fixed share of it."""

    region: str
    mu: float
    sigma: float
    backend_share: float = 0.8
    throttle_rate: float = 0.0
    error_rate: float = 0.0


def requests_generate(
    *,
    profiles: list[RegionProfile],
    start: datetime,
    hours: int,
    per_hour: int,
    seed: int,
    streaming_share: float = 0.0,
    with_native: bool = True,
) -> list[GatewayRequest]:
    """Store ``per_hour`` requests per region and hour, lognormal times per the region's profile.

    Native log rows (DurationMs = backend time minus a little) are stored for every request
    when ``with_native``. Returns the stored requests.
    """
    rng = random.Random(seed)
    requests: list[GatewayRequest] = []
    natives: list[NativeLog] = []
    for hour in range(hours):
        for profile in profiles:
            for i in range(per_hour):
                moment = start + timedelta(hours=hour, seconds=rng.randrange(3600))
                total = rng.lognormvariate(profile.mu, profile.sigma)
                backend = total * profile.backend_share
                draw = rng.random()
                code = 200
                if draw < profile.throttle_rate:
                    code = 429
                elif draw < profile.throttle_rate + profile.error_rate:
                    code = 503
                streaming = rng.random() < streaming_share
                request = gateway_request(
                    time=moment,
                    backend_region=profile.region,
                    total_time_ms=total,
                    backend_time_ms=backend,
                    response_code=code,
                    is_streaming=streaming,
                    completion_tokens=0 if code != 200 else 50 + i % 100,
                    ratelimit_remaining_requests=1000 - i,
                    ratelimit_remaining_tokens=100_000 - 10 * i,
                )
                requests.append(request)
                if with_native:
                    natives.append(
                        NativeLog(
                            correlation_id=request.apim_request_id,
                            time=moment,
                            duration_ms=max(backend - 5.0, 0.5),
                            location=profile.region,
                        )
                    )
    GatewayRequest.objects.bulk_create(requests, batch_size=2000)
    NativeLog.objects.bulk_create(natives, batch_size=2000)
    return requests


def exact_percentile(values: list[float], quantile: float) -> float:
    """Nearest-rank percentile over raw values (what the histogram approximates)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(quantile * len(ordered)))
    return ordered[rank - 1]


SUBSCRIPTIONS = ("sub-a", "sub-b", "sub-c")


def requests_random_store(*, n: int, seed: int, start: datetime, hours: int, **fixed) -> list[GatewayRequest]:
    """``n`` requests at random moments of [start, start + hours), random dimensions and
    latencies (some without backend time, some with a native log row); ``fixed`` overrides."""
    rng = random.Random(seed)
    requests, natives = [], []
    for _ in range(n):
        deployment = rng.choice(["gpt-4o", "gpt-4o-mini"])
        total = rng.lognormvariate(6.3, 0.7)
        code = rng.choice([200, 200, 200, 200, 429, 503, 400])
        values = {
            "time": start + timedelta(seconds=rng.randrange(hours * 3600)),
            "apim_subscription_id": rng.choice(SUBSCRIPTIONS),
            "product_id": rng.choice(["prod-a", "prod-b"]),
            "deployment": deployment,
            "model": deployment,
            "backend_region": rng.choice(["swedencentral", "eastus", "japaneast"]),
            "apim_region": rng.choice(["West Europe", "East US"]),
            "is_streaming": rng.random() < 0.3,
            "response_code": code,
            "total_time_ms": total,
            "backend_time_ms": None if code == 429 else total * rng.uniform(0.7, 0.95),
            "completion_tokens": rng.randrange(0, 400) if code == 200 else 0,
            "ratelimit_remaining_requests": rng.randrange(1000) if rng.random() < 0.8 else None,
            "ratelimit_remaining_tokens": rng.randrange(100_000),
        } | fixed
        request = gateway_request(**values)
        requests.append(request)
        if request.backend_time_ms and rng.random() < 0.7:
            natives.append(
                NativeLog(
                    correlation_id=request.apim_request_id,
                    time=request.time,
                    duration_ms=request.backend_time_ms * 0.9,
                    location=request.backend_region,
                )
            )
    GatewayRequest.objects.bulk_create(requests, batch_size=2000)
    NativeLog.objects.bulk_create(natives, batch_size=2000)
    return requests


def rounded(value):
    """``value`` with its floats as text to 6 places (SQL float sums depend on the scan order)."""
    if isinstance(value, float):
        return f"{value:.6f}"
    if isinstance(value, dict):
        return {key: rounded(v) for key, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value
