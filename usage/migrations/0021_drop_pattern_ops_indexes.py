"""Drop the ``varchar_pattern_ops`` twins of the ingestion tables' indexes (PostgreSQL only).

Django gives every indexed ``CharField`` a second index for ``LIKE 'prefix%'``. Nothing queries
these columns by prefix (admin search is ``icontains``, which no B-tree serves), yet every stored
request, native row and LLM-log chunk updated them: 5 of the 13 indexes of a request partition,
2 of the 6 of the native table. Dropping a partitioned index drops it from every monthly partition; partitions made
later no longer get it. The plain indexes stay.
"""

from django.db import migrations

# (table, index, column): the twins as Django named them.
PATTERN_INDEXES = [
    ("usage_gatewayrequest", "usage_gatewayrequest_correlation_id_162c5233_like", "correlation_id"),
    (
        "usage_gatewayrequest",
        "usage_gatewayrequest_apim_subscription_id_4028508e_like",
        "apim_subscription_id",
    ),
    ("usage_gatewayrequest", "usage_gatewayrequest_deployment_391809f8_like", "deployment"),
    ("usage_gatewayrequest", "usage_gatewayrequest_apim_request_id_77eac178_like", "apim_request_id"),
    ("usage_gatewayrequest", "usage_gatewayrequest_model_c8117ad8_like", "model"),
    ("usage_nativelog", "usage_nativelog_correlation_id_9c9c0367_like", "correlation_id"),
    ("usage_nativelog", "usage_nativelog_object_id_4654e363_like", "object_id"),
    ("usage_llmlogchunk", "usage_llmlogchunk_correlation_id_a4aa5522_like", "correlation_id"),
]


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for _table, index, _column in PATTERN_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(index)}")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    qn = schema_editor.quote_name
    for table, index, column in PATTERN_INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {qn(index)} ON {qn(table)} ({qn(column)} varchar_pattern_ops)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0020_latency_pending_hour"),
    ]

    operations = [migrations.RunPython(drop, create)]
