"""Rows built once for a whole test module and rolled back at its end, as ``setUpTestData`` does.

A module fixture builds its rows inside ``module_rows``; each test that asks for them also asks
for ``db``, whose transaction is a savepoint inside this one, so whatever a test changes is undone
before the next test, and the module's rows are gone when the module ends.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction


@contextmanager
def module_rows(django_db_blocker) -> Iterator[None]:
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            from usage.accounting.price_defaults import prices_seed
            from usage.models import ModelPrice

            # The default prices, as conftest's _default_prices puts them back for a test; rows
            # built here are priced before that per-test fixture runs.
            if not ModelPrice.objects.exists():
                prices_seed()
            yield
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
