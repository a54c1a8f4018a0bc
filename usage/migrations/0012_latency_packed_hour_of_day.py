"""Pack LatencyDaily's page histograms and add LatencyHourOfDay (grouping by hour of day).

Both are built from what LatencyDaily already stores (its JSON histograms and per-hour entries),
not from UsageHourly: a few thousand rows even at a million requests, so the migration takes
seconds where re-aggregating the hourly rollup would take minutes.
"""

from django.db import migrations, models

from usage.rollups.histograms import histogram_pack, histograms_pack

PACKED = {
    "total_time_hist": "packed_total_time_hist",
    "backend_time_hist": "packed_backend_time_hist",
    "native_duration_hist": "packed_native_duration_hist",
    "overhead_hist": "packed_overhead_hist",
}


def pack_and_backfill(apps, schema_editor):
    from usage.db.bulk import rows_update
    from usage.rollups.latency import hour_of_day_entries, hour_of_day_fields

    LatencyDaily = apps.get_model("usage", "LatencyDaily")
    LatencyHourOfDay = apps.get_model("usage", "LatencyHourOfDay")
    for day in LatencyDaily.objects.order_by("day").values_list("day", flat=True).distinct():
        rows = list(LatencyDaily.objects.filter(day=day))
        by_dims = {}
        for row in rows:
            for json_field, packed_field in PACKED.items():
                setattr(row, packed_field, histogram_pack(getattr(row, json_field)))
            row.packed_total_time_by_hour = histograms_pack(row.total_time_by_hour)
            dims = (row.deployment, row.model, row.backend_region, row.apim_region, row.is_streaming)
            by_dims[dims] = {
                hour: {
                    **measures,
                    "requests": row.requests_by_hour.get(hour, 0),
                    "total": row.total_time_by_hour.get(hour, {}),
                }
                for hour, measures in row.measures_by_hour.items()
            }
        rows_update(rows=rows, fields=[*PACKED.values(), "packed_total_time_by_hour"])
        LatencyHourOfDay.objects.bulk_create(
            [
                LatencyHourOfDay(**hour_of_day_fields(key, hours))
                for key, hours in hour_of_day_entries({day: by_dims}).items()
            ],
            batch_size=1000,
        )


class Migration(migrations.Migration):

    dependencies = [
        ("usage", "0011_gatewayrequest_partitioned"),
    ]

    operations = [
        migrations.CreateModel(
            name="LatencyHourOfDay",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("day", models.DateField()),
                ("deployment", models.CharField(blank=True, max_length=256)),
                ("model", models.CharField(blank=True, max_length=128)),
                ("is_streaming", models.BooleanField(default=False)),
                ("measures_by_hour", models.JSONField(default=dict)),
                ("total_time_by_hour", models.BinaryField(default=b"")),
                ("backend_time_by_hour", models.BinaryField(default=b"")),
                ("native_duration_by_hour", models.BinaryField(default=b"")),
                ("overhead_by_hour", models.BinaryField(default=b"")),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "deployment", "model", "is_streaming"), name="latencyhourofday_unique_dims"
                    )
                ],
            },
        ),
        *(
            migrations.AddField(model_name="latencydaily", name=packed, field=models.BinaryField(default=b""))
            for packed in (*PACKED.values(), "packed_total_time_by_hour")
        ),
        migrations.RunPython(pack_and_backfill, migrations.RunPython.noop),
        *(
            migrations.RemoveField(model_name="latencydaily", name=name)
            for name in (*PACKED, "total_time_by_hour")
        ),
        *(
            migrations.RenameField(model_name="latencydaily", old_name=packed, new_name=name)
            for name, packed in (*PACKED.items(), ("total_time_by_hour", "packed_total_time_by_hour"))
        ),
    ]
