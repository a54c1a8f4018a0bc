"""Add LatencySubscriptionDaily (latency per day and APIM subscription) and backfill it from UsageHourly.

Frozen copies of what ``usage.rollups`` and ``usage.rollups.histograms`` do today (a migration must not
follow later code): the packed histogram format, the per-hour entries summed from UsageHourly rows
and the day row built from them. One day of UsageHourly at a time, so memory stays flat.
"""

import struct
import zlib
from datetime import UTC, datetime, time, timedelta

from django.db import migrations, models
from django.db.models import Max, Min

_DIMENSIONS = ("apim_subscription_id", "deployment", "model", "backend_region", "apim_region", "is_streaming")
_HISTOGRAMS = {
    "total": ("total_time_hist", "total_time_by_hour"),
    "backend": ("backend_time_hist", "backend_time_by_hour"),
    "native": ("native_duration_hist", "native_duration_by_hour"),
    "overhead": ("overhead_hist", "overhead_by_hour"),
}
_MEASURE_ORDER = ("requests", "throttled", "errors", "tps_tokens", "tps_ms", "last_seen_at", "rl_requests", "rl_tokens")
_COMPRESSED = 0xFF
_COMPRESS_FROM = 128


def _raw(histogram):
    counts = {int(key): int(count) for key, count in (histogram or {}).items() if int(count)}
    if not counts:
        return b""
    low, high = min(counts), max(counts)
    return bytes([low]) + struct.pack(f"<{high - low + 1}Q", *(counts.get(i, 0) for i in range(low, high + 1)))


def _compact(raw):
    if len(raw) < _COMPRESS_FROM:
        return raw
    compressed = zlib.compress(raw, 1)
    return bytes([_COMPRESSED]) + compressed if len(compressed) + 1 < len(raw) else raw


def _pack(histogram):
    return _compact(_raw(histogram))


def _pack_by_hour(histograms):
    parts = []
    for key in sorted(histograms, key=int):
        raw = _raw(histograms[key])
        if raw:
            parts.append(bytes([int(key)]) + len(raw).to_bytes(2, "little") + raw)
    return _compact(b"".join(parts))


def _merge_into(target, histogram):
    for key, count in (histogram or {}).items():
        target[key] = target.get(key, 0) + count


def _hour_entries(rows):
    """UsageHourly rows of one day -> {dims: {hour of day: entry}}."""
    entries = {}
    for row in rows:
        hour = str(row["hour"].astimezone(UTC).hour)
        entry = entries.setdefault(tuple(row[d] for d in _DIMENSIONS), {}).get(hour)
        if entry is None:
            entry = entries[tuple(row[d] for d in _DIMENSIONS)][hour] = {
                "requests": 0,
                "throttled": 0,
                "errors": 0,
                "tps_tokens": 0,
                "tps_ms": 0.0,
                "last_seen_at": None,
                "rl_requests": None,
                "rl_tokens": None,
                **{name: {} for name in _HISTOGRAMS},
            }
        entry["requests"] += row["requests"]
        entry["throttled"] += row["requests"] if row["status_class"] == "429" else 0
        entry["errors"] += row["requests"] if row["status_class"] == "5xx" else 0
        entry["tps_tokens"] += row["tps_completion_tokens"]
        entry["tps_ms"] += row["tps_backend_ms"]
        for name, (column, _) in _HISTOGRAMS.items():
            _merge_into(entry[name], row[column])
        seen = row["last_seen_at"]
        if seen is not None:
            seen = seen.astimezone(UTC).isoformat()
            if entry["last_seen_at"] is None or seen > entry["last_seen_at"]:
                entry["last_seen_at"] = seen
                entry["rl_requests"] = row["ratelimit_remaining_requests"]
                entry["rl_tokens"] = row["ratelimit_remaining_tokens"]
    return entries


def _fields(day, dims, hours):
    ordered = sorted(hours, key=int)
    fields = {
        "day": day,
        **dict(zip(_DIMENSIONS, dims, strict=True)),
        "requests": 0,
        "throttled": 0,
        "errors": 0,
        "tps_completion_tokens": 0,
        "tps_backend_ms": 0.0,
        "ratelimit_remaining_requests": None,
        "ratelimit_remaining_tokens": None,
        "measures_by_hour": {hour: [hours[hour][name] for name in _MEASURE_ORDER] for hour in ordered},
    }
    totals = {name: {} for name in _HISTOGRAMS}
    last_seen = None
    for hour in ordered:
        entry = hours[hour]
        fields["requests"] += entry["requests"]
        fields["throttled"] += entry["throttled"]
        fields["errors"] += entry["errors"]
        fields["tps_completion_tokens"] += entry["tps_tokens"]
        fields["tps_backend_ms"] += entry["tps_ms"]
        for name, histogram in totals.items():
            _merge_into(histogram, entry[name])
        if entry["last_seen_at"] is not None and (last_seen is None or entry["last_seen_at"] > last_seen):
            last_seen = entry["last_seen_at"]
            fields["ratelimit_remaining_requests"] = entry["rl_requests"]
            fields["ratelimit_remaining_tokens"] = entry["rl_tokens"]
    fields["last_seen_at"] = datetime.fromisoformat(last_seen) if last_seen else None
    for name, (column, by_hour) in _HISTOGRAMS.items():
        fields[column] = _pack(totals[name])
        fields[by_hour] = _pack_by_hour({hour: hours[hour][name] for hour in ordered})
    return fields


def backfill(apps, schema_editor):
    UsageHourly = apps.get_model("usage", "UsageHourly")
    LatencySubscriptionDaily = apps.get_model("usage", "LatencySubscriptionDaily")
    bounds = UsageHourly.objects.aggregate(first=Min("hour"), last=Max("hour"))
    if bounds["first"] is None:
        return
    day, last = bounds["first"].astimezone(UTC).date(), bounds["last"].astimezone(UTC).date()
    columns = (
        "hour",
        *_DIMENSIONS,
        "status_class",
        "requests",
        "tps_completion_tokens",
        "tps_backend_ms",
        "last_seen_at",
        "ratelimit_remaining_requests",
        "ratelimit_remaining_tokens",
        *(column for column, _ in _HISTOGRAMS.values()),
    )
    while day <= last:
        start = datetime.combine(day, time.min, tzinfo=UTC)
        rows = UsageHourly.objects.filter(hour__gte=start, hour__lt=start + timedelta(days=1)).order_by()
        entries = _hour_entries(rows.values(*columns).iterator(chunk_size=5000))
        LatencySubscriptionDaily.objects.bulk_create(
            [LatencySubscriptionDaily(**_fields(day, dims, hours)) for dims, hours in sorted(entries.items())],
            batch_size=1000,
        )
        day += timedelta(days=1)


class Migration(migrations.Migration):

    dependencies = [
        ('usage', '0014_unmatched_rows'),
    ]

    operations = [
        migrations.CreateModel(
            name='LatencySubscriptionDaily',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('apim_subscription_id', models.CharField(blank=True, max_length=256)),
                ('deployment', models.CharField(blank=True, max_length=256)),
                ('model', models.CharField(blank=True, max_length=128)),
                ('backend_region', models.CharField(blank=True, max_length=128)),
                ('apim_region', models.CharField(blank=True, max_length=128)),
                ('is_streaming', models.BooleanField(default=False)),
                ('requests', models.BigIntegerField(default=0)),
                ('throttled', models.BigIntegerField(default=0)),
                ('errors', models.BigIntegerField(default=0)),
                ('tps_completion_tokens', models.BigIntegerField(default=0)),
                ('tps_backend_ms', models.FloatField(default=0)),
                ('total_time_hist', models.BinaryField(default=b'')),
                ('backend_time_hist', models.BinaryField(default=b'')),
                ('native_duration_hist', models.BinaryField(default=b'')),
                ('overhead_hist', models.BinaryField(default=b'')),
                ('last_seen_at', models.DateTimeField(blank=True, null=True)),
                ('ratelimit_remaining_requests', models.BigIntegerField(blank=True, null=True)),
                ('ratelimit_remaining_tokens', models.BigIntegerField(blank=True, null=True)),
                ('measures_by_hour', models.JSONField(default=dict)),
                ('total_time_by_hour', models.BinaryField(default=b'')),
                ('backend_time_by_hour', models.BinaryField(default=b'')),
                ('native_duration_by_hour', models.BinaryField(default=b'')),
                ('overhead_by_hour', models.BinaryField(default=b'')),
            ],
            options={
                'indexes': [models.Index(fields=['day'], name='latencysubdaily_day')],
                'constraints': [models.UniqueConstraint(fields=('apim_subscription_id', 'day', 'deployment', 'model', 'backend_region', 'apim_region', 'is_streaming'), name='latencysubdaily_unique_dims')],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
