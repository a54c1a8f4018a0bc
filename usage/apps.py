from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    verbose_name = "Usage"

    def ready(self) -> None:
        from .db import lookups

        lookups.register()  # field__any=values (usage/db/lookups.py), for every app's queries

        from aoai_portal.auth.hooks import sign_in_hook_register

        from .people.services import person_sign_in_record

        sign_in_hook_register(person_sign_in_record)  # signed-in users name their object id
