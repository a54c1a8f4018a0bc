"""Add LatencyDailySpan and LatencyHourOfDaySpan (LatencyDaily and LatencyHourOfDay summed over
aligned spans of 2..256 days) and backfill them.

Frozen copies of what ``usage.rollups.spans``, ``usage.rollups.latency_spans.latency_span_merge``,
``usage.rollups.latency_spans.hour_of_day_span_merge`` and ``usage.rollups.histograms`` do today (a migration must not follow later code). Spans are built shortest
first, each from its two halves, as the refresh builds them.
"""

import zlib
from datetime import date, timedelta

from django.db import migrations, models

_SPAN_DAYS = (2, 4, 8, 16, 32, 64, 128, 256)
_DIMENSIONS = ("deployment", "model", "backend_region", "apim_region", "is_streaming")
_COUNTS = ("requests", "throttled", "errors", "tps_completion_tokens", "tps_backend_ms")
_PACKED = ("total_time_hist", "backend_time_hist", "native_duration_hist", "overhead_hist")
_COLUMNS = (
    "day",
    *_DIMENSIONS,
    *_COUNTS,
    *_PACKED,
    "last_seen_at",
    "ratelimit_remaining_requests",
    "ratelimit_remaining_tokens",
    "total_time_by_hour",
    "requests_by_hour",
)
_COMPRESSED = 0xFF
_COMPRESS_FROM = 128
_LANE_BITS = 64


def _expand(packed):
    return zlib.decompress(packed[1:]) if packed[0] == _COMPRESSED else packed


def _compact(raw):
    if len(raw) < _COMPRESS_FROM:
        return raw
    compressed = zlib.compress(raw, 1)
    return bytes([_COMPRESSED]) + compressed if len(compressed) + 1 < len(raw) else raw


def _lanes(packed):
    if not packed:
        return 0
    raw = _expand(packed)
    return int.from_bytes(raw[1:], "little") << (raw[0] * _LANE_BITS)


def _raw_of_lanes(lanes):
    if not lanes:
        return b""
    low = ((lanes & -lanes).bit_length() - 1) // _LANE_BITS
    high = (lanes.bit_length() - 1) // _LANE_BITS
    return bytes([low]) + (lanes >> (low * _LANE_BITS)).to_bytes((high - low + 1) * 8, "little")


def _hours_lanes(packed):
    """{hour: lanes} of a per-hour packed value."""
    if not packed:
        return {}
    raw, hours, position = _expand(packed), {}, 0
    while position < len(raw):
        end = position + 3 + int.from_bytes(raw[position + 1 : position + 3], "little")
        hours[raw[position]] = int.from_bytes(raw[position + 4 : end], "little") << (
            raw[position + 3] * _LANE_BITS
        )
        position = end
    return hours


def _pack_hours(lanes_by_hour):
    parts = []
    for hour in sorted(lanes_by_hour):
        raw = _raw_of_lanes(lanes_by_hour[hour])
        if raw:
            parts.append(bytes([hour]) + len(raw).to_bytes(2, "little") + raw)
    return _compact(b"".join(parts))


def _merge(rows):
    """Rows in day order summed per dims (as usage.rollups.latency_spans.latency_span_merge)."""
    sums = {}
    for row in rows:
        dims = tuple(row[d] for d in _DIMENSIONS)
        target = sums.get(dims)
        if target is None:
            target = sums[dims] = {
                **dict.fromkeys(_COUNTS, 0),
                "lanes": dict.fromkeys(_PACKED, 0),
                "by_hour": {},
                "requests_by_hour": {},
                "last_seen_at": None,
                "ratelimit_remaining_requests": None,
                "ratelimit_remaining_tokens": None,
            }
        for name in _COUNTS:
            target[name] += row[name]
        for column in _PACKED:
            target["lanes"][column] += _lanes(row[column])
        for hour, lanes in _hours_lanes(row["total_time_by_hour"]).items():
            target["by_hour"][hour] = target["by_hour"].get(hour, 0) + lanes
        for hour, requests in row["requests_by_hour"].items():
            target["requests_by_hour"][hour] = target["requests_by_hour"].get(hour, 0) + requests
        seen = row["last_seen_at"]
        if seen is not None and (target["last_seen_at"] is None or seen > target["last_seen_at"]):
            target["last_seen_at"] = seen
            target["ratelimit_remaining_requests"] = row["ratelimit_remaining_requests"]
            target["ratelimit_remaining_tokens"] = row["ratelimit_remaining_tokens"]
    merged = []
    for dims, target in sums.items():
        lanes, by_hour = target.pop("lanes"), target.pop("by_hour")
        merged.append(
            {
                **dict(zip(_DIMENSIONS, dims, strict=True)),
                **target,
                **{column: _compact(_raw_of_lanes(lanes[column])) for column in _PACKED},
                "total_time_by_hour": _pack_hours(by_hour),
                "requests_by_hour": {
                    hour: target["requests_by_hour"][hour]
                    for hour in sorted(target["requests_by_hour"], key=int)
                },
            }
        )
    return merged


_HOUR_OF_DAY_DIMENSIONS = ("deployment", "model", "is_streaming")
_BY_HOUR = ("total_time_by_hour", "backend_time_by_hour", "native_duration_by_hour", "overhead_by_hour")
_HOUR_OF_DAY_COLUMNS = ("day", *_HOUR_OF_DAY_DIMENSIONS, "measures_by_hour", *_BY_HOUR)


def _merge_hour_of_day(rows):
    """Rows in day order summed per dims, hour by hour (as usage.rollups.latency_spans.hour_of_day_span_merge)."""
    sums = {}
    for row in rows:
        dims = tuple(row[d] for d in _HOUR_OF_DAY_DIMENSIONS)
        target = sums.setdefault(dims, {"measures": {}, **{column: {} for column in _BY_HOUR}})
        for hour, values in row["measures_by_hour"].items():
            current = target["measures"].get(hour)
            if current is None:
                target["measures"][hour] = list(values)
                continue
            for i in range(5):
                current[i] += values[i]
            if values[5] is not None and (current[5] is None or values[5] > current[5]):
                current[5:] = values[5:]
        for column in _BY_HOUR:
            for hour, lanes in _hours_lanes(row[column]).items():
                target[column][hour] = target[column].get(hour, 0) + lanes
    return [
        {
            **dict(zip(_HOUR_OF_DAY_DIMENSIONS, dims, strict=True)),
            "measures_by_hour": {
                hour: target["measures"][hour] for hour in sorted(target["measures"], key=int)
            },
            **{column: _pack_hours(target[column]) for column in _BY_HOUR},
        }
        for dims, target in sums.items()
    ]


def _backfill_spans(day_model, span_model, dimensions, columns, merge):
    days = set(day_model.objects.order_by().values_list("day", flat=True).distinct())
    for span_days in _SPAN_DAYS:
        half = span_days // 2
        halves = day_model.objects.all() if half == 1 else span_model.objects.filter(span_days=half)
        starts = {date.fromordinal(d.toordinal() - d.toordinal() % span_days) for d in days}
        for start in sorted(starts):
            children = (
                halves.filter(day__in=[start, start + timedelta(days=half)])
                .order_by("day", *dimensions)
                .values(*columns)
            )
            span_model.objects.bulk_create(
                [span_model(day=start, span_days=span_days, **fields) for fields in merge(children)],
                batch_size=1000,
            )


def backfill(apps, schema_editor):
    _backfill_spans(
        apps.get_model("usage", "LatencyDaily"),
        apps.get_model("usage", "LatencyDailySpan"),
        _DIMENSIONS,
        _COLUMNS,
        _merge,
    )
    _backfill_spans(
        apps.get_model("usage", "LatencyHourOfDay"),
        apps.get_model("usage", "LatencyHourOfDaySpan"),
        _HOUR_OF_DAY_DIMENSIONS,
        _HOUR_OF_DAY_COLUMNS,
        _merge_hour_of_day,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0016_lz4_toast_compression"),
    ]

    operations = [
        migrations.CreateModel(
            name="LatencyDailySpan",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("deployment", models.CharField(blank=True, max_length=256)),
                ("model", models.CharField(blank=True, max_length=128)),
                ("backend_region", models.CharField(blank=True, max_length=128)),
                ("apim_region", models.CharField(blank=True, max_length=128)),
                ("is_streaming", models.BooleanField(default=False)),
                ("requests", models.BigIntegerField(default=0)),
                ("throttled", models.BigIntegerField(default=0)),
                ("errors", models.BigIntegerField(default=0)),
                ("tps_completion_tokens", models.BigIntegerField(default=0)),
                ("tps_backend_ms", models.FloatField(default=0)),
                ("total_time_hist", models.BinaryField(default=b"")),
                ("backend_time_hist", models.BinaryField(default=b"")),
                ("native_duration_hist", models.BinaryField(default=b"")),
                ("overhead_hist", models.BinaryField(default=b"")),
                ("last_seen_at", models.DateTimeField(blank=True, null=True)),
                ("ratelimit_remaining_requests", models.BigIntegerField(blank=True, null=True)),
                ("ratelimit_remaining_tokens", models.BigIntegerField(blank=True, null=True)),
                ("span_days", models.PositiveSmallIntegerField()),
                ("total_time_by_hour", models.BinaryField(default=b"")),
                ("requests_by_hour", models.JSONField(default=dict)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=(
                            "day",
                            "span_days",
                            "deployment",
                            "model",
                            "backend_region",
                            "apim_region",
                            "is_streaming",
                        ),
                        name="latencydailyspan_unique_dims",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="LatencyHourOfDaySpan",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("measures_by_hour", models.JSONField(default=dict)),
                ("total_time_by_hour", models.BinaryField(default=b"")),
                ("backend_time_by_hour", models.BinaryField(default=b"")),
                ("native_duration_by_hour", models.BinaryField(default=b"")),
                ("overhead_by_hour", models.BinaryField(default=b"")),
                ("day", models.DateField()),
                ("span_days", models.PositiveSmallIntegerField()),
                ("deployment", models.CharField(blank=True, max_length=256)),
                ("model", models.CharField(blank=True, max_length=128)),
                ("is_streaming", models.BooleanField(default=False)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "span_days", "deployment", "model", "is_streaming"),
                        name="latencyhourofdayspan_unique_dims",
                    )
                ],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
