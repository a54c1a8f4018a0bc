"""Set the backend region of requests and learn the backend host -> region map (services write)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction

from usage.models import BackendHostRegion, GatewayRequest, NativeLog

from . import backend_host, backend_region_resolve, region_normalize, request_sent


def _header_region(row: GatewayRequest) -> str:
    headers = row.response_headers if isinstance(row.response_headers, Mapping) else {}
    value = headers.get("x-ms-region", "")
    return region_normalize(value) if isinstance(value, str) else ""


def host_regions_learn(*, rows: Iterable[GatewayRequest]) -> dict[str, str]:
    """Learn host -> region from ``rows`` that carry ``x-ms-region``; the map for their hosts.

    Returns the stored region of every backend host of ``rows`` that has one (learned or edited).
    Writes only what is new or changed (steady state: one SELECT); an edited entry is kept.
    """
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    hosts: set[str] = set()
    for row in rows:
        host = backend_host(row.backend_url)
        if not host:
            continue
        hosts.add(host)
        region = _header_region(row)
        if region:
            seen[host][region] += 1
    if not hosts:
        return {}
    stored = {
        entry.host: entry for entry in BackendHostRegion.objects.filter(host__in=sorted(hosts)).order_by()
    }
    new = []
    for host, counts in seen.items():
        region = counts.most_common(1)[0][0]
        entry = stored.get(host)
        if entry is None:
            new.append(BackendHostRegion(host=host, region=region))
        elif entry.source == BackendHostRegion.Source.LEARNED and entry.region != region:
            # A host serves one resource in one region: a different answer means it moved.
            BackendHostRegion.objects.filter(pk=entry.pk, source=BackendHostRegion.Source.LEARNED).update(
                region=region
            )
            entry.region = region
    if new:
        # Another worker may learn the same host at the same time: keep whichever came first.
        BackendHostRegion.objects.bulk_create(new, ignore_conflicts=True)
        stored.update(
            (entry.host, entry)
            for entry in BackendHostRegion.objects.filter(host__in=[e.host for e in new]).order_by()
        )
    return {host: entry.region for host, entry in stored.items()}


def backend_regions_resolve(*, rows: list[GatewayRequest], natives: Mapping[str, NativeLog | object]) -> None:
    """Set ``backend_region`` of ``rows`` (stored or about to be): ``x-ms-region``, else the
    joined native row's location (``natives`` by correlation id, any objects with ``location``),
    else the learned host map, else ``unknown``; ``gateway`` when APIM never called a backend."""
    host_regions = host_regions_learn(rows=rows)
    for row in rows:
        native = natives.get(row.apim_request_id) if row.apim_request_id else None
        row.backend_region = backend_region_resolve(
            header=_header_region(row),
            native_location=getattr(native, "location", "") or "",
            host=backend_host(row.backend_url),
            sent=request_sent(
                backend_id=row.backend_id,
                backend_url=row.backend_url,
                backend_time_ms=row.backend_time_ms,
                backend_response_code=row.backend_response_code,
                response_headers=row.response_headers,
            ),
            host_regions=host_regions,
        )


@dataclass
class RegionsRenormalized:
    examined: int = 0
    changed: int = 0
    hours: set[datetime] = field(default_factory=set)


_FIELDS = (
    "id",
    "time",
    "correlation_id",
    "apim_request_id",
    "apim_region",
    "backend_region",
    "backend_id",
    "backend_url",
    "backend_time_ms",
    "backend_response_code",
    "response_headers",
)


def requests_regions_renormalize(*, batch: int = 2000, rollups: bool = True) -> RegionsRenormalized:
    """Re-derive ``apim_region`` and ``backend_region`` of every stored request (rows stored
    before regions were normalised, or after the host map was learned or edited), then refresh
    the rollup hours of the requests that changed. Idempotent: a second run changes nothing."""
    from usage.db.bulk import rows_update
    from usage.rollups.common import hour_floor
    from usage.rollups.hourly import rollup_refresh_hours

    result = RegionsRenormalized()
    # First learn from every request that carries the header, so that the map is whole before
    # any request is resolved with it (whatever order the rows come in).
    last = 0
    while True:
        rows = list(
            GatewayRequest.objects.filter(pk__gt=last)
            .order_by("pk")
            .only("id", "backend_url", "response_headers")[:batch]
        )
        if not rows:
            break
        host_regions_learn(rows=rows)
        last = rows[-1].pk
    last = 0
    while True:
        rows = list(GatewayRequest.objects.filter(pk__gt=last).order_by("pk").only(*_FIELDS)[:batch])
        if not rows:
            break
        last = rows[-1].pk
        before = {row.pk: (row.apim_region, row.backend_region) for row in rows}
        ids = [row.apim_request_id for row in rows if row.apim_request_id]
        natives = {
            n.correlation_id: n
            for n in NativeLog.objects.filter(correlation_id__any=ids).only("correlation_id", "location")
        }
        for row in rows:
            row.apim_region = region_normalize(row.apim_region)
        backend_regions_resolve(rows=rows, natives=natives)
        changed = [row for row in rows if before[row.pk] != (row.apim_region, row.backend_region)]
        result.examined += len(rows)
        if changed:
            with transaction.atomic():
                rows_update(rows=changed, fields=("apim_region", "backend_region"))
            result.changed += len(changed)
            result.hours.update(hour_floor(row.time) for row in changed)
    if rollups and result.hours:
        rollup_refresh_hours(hours=result.hours)
    return result
