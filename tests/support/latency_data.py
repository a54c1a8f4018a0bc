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
