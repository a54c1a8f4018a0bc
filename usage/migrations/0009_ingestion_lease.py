from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("usage", "0008_latencydaily_measures_by_hour"),
    ]

    operations = [
        migrations.CreateModel(
            name="IngestionLease",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=128, unique=True)),
                ("holder", models.CharField(max_length=128)),
                ("expires_at", models.DateTimeField()),
            ],
        ),
    ]
