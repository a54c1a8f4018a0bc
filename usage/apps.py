from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    verbose_name = "Usage"

    def ready(self) -> None:
        from .db import lookups

        lookups.register()  # field__any=values (usage/db/lookups.py), for every app's queries
