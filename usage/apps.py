from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    verbose_name = "Usage"

    def ready(self) -> None:
        from . import lookups

        lookups.register()  # field__any=values (usage/lookups.py), for every app's queries
