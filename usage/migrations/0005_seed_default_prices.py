"""Default prices from the pinned genai-prices package (reproducible; `prices_seed` re-runs it)."""

from django.db import migrations


def seed(apps, schema_editor):
    from usage.accounting.price_defaults import prices_seed

    prices_seed(price_model=apps.get_model("usage", "ModelPrice"))


class Migration(migrations.Migration):
    dependencies = [("usage", "0004_pricing")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
