"""Redact credential headers in rows stored before ingestion did (api-key, Authorization, ...).

Gateway rows' request/response headers, native rows' properties and rejected rows' raw text;
batched, idempotent; rejected rows keep their fingerprint. See usage.ingestion.credentials.
"""

from django.db import migrations


def scrub(apps, schema_editor):
    from usage.ingestion.credentials_stored import credentials_stored_scrub

    credentials_stored_scrub(
        gateway_model=apps.get_model("usage", "GatewayRequest"),
        native_model=apps.get_model("usage", "NativeLog"),
        rejected_model=apps.get_model("usage", "RejectedRow"),
    )


class Migration(migrations.Migration):
    dependencies = [("usage", "0022_ingestion_run_accounting")]

    # Nothing to undo: the credentials are gone.
    operations = [migrations.RunPython(scrub, migrations.RunPython.noop, elidable=True)]
