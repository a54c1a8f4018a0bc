"""Shared fixtures: named people, one per role (healthchecks style)."""

import os

import pytest
from django.contrib.auth.models import Group, User
from django.test import override_settings
from hypothesis import settings as hypothesis_settings

from aoai_portal.roles import ADMIN, FINANCE, REVIEWER

# entra_provider / entra: the local OpenID Connect provider of the sign-in tests.
# emulator / logs: the local Log Analytics emulator loaded with generated rows (pull tests).
pytest_plugins = ["tests.support.oidc_provider", "tests.support.log_analytics_fixtures"]

# Property tests check answers, not speed: a per-example deadline measures how busy the machine
# is (speed is the benchmarks' job, bench/).
hypothesis_settings.register_profile("suite", deadline=None)
hypothesis_settings.load_profile("suite")


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """Test users' passwords protect nothing: Django's default hasher spends a fifth of a second
    of CPU on each by design, and the suite makes hundreds of users. Processes the tests start
    (commands, Celery workers) keep the real hasher."""
    fast = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    fast.enable()
    yield
    fast.disable()


# The suite's data lies in months of its own choosing, often long past: hourly rollup rows are
# kept forever unless a test turns the horizon on (tests/usage/rollups/test_hourly_horizon.py).
# Also for the processes the tests start (commands, Celery workers).
os.environ["PORTAL_HOURLY_ROLLUP_MONTHS"] = "0"


@pytest.fixture(autouse=True, scope="session")
def _hourly_rows_kept():
    kept = override_settings(PORTAL_HOURLY_ROLLUP_MONTHS=0)
    kept.enable()
    yield
    kept.disable()


@pytest.fixture(autouse=True)
def _default_prices(request, django_db_blocker):
    """The default prices a data migration seeds are there when a test that uses the database
    starts.

    A transactional test, or a module fixture that loads a site (the browser tests), ends by
    emptying every table; test files share a process under pytest-xdist, so the next test of that
    process would otherwise price nothing. Seeded outside the test's transaction, as migrate did.
    """
    marker = request.node.get_closest_marker("django_db")
    uses_db = marker is not None or bool(
        {"db", "transactional_db", "live_server", "django_db_setup"} & set(request.fixturenames)
    )
    if uses_db:
        request.getfixturevalue("django_db_setup")
        from usage.accounting.price_defaults import prices_seed
        from usage.models import ModelPrice

        with django_db_blocker.unblock():
            if not ModelPrice.objects.exists():
                prices_seed()
    yield


def pytest_configure(config):
    """Each pytest-xdist worker gets a Redis database of its own (TEST_REDIS_URL's number minus the
    worker's index), as it gets a test database: lock tests of two files must not share keys."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw"):
        base, _, number = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rpartition("/")
        os.environ["TEST_REDIS_URL"] = f"{base}/{int(number or 15) - int(worker[2:])}"


def _user(username: str, role: str | None) -> User:
    user = User.objects.create_user(
        username=username, password="pw-" + username, email=f"{username}@example.com"
    )
    if role:
        group, _ = Group.objects.get_or_create(name=role)
        user.groups.add(group)
    return user


@pytest.fixture
def finance_user(db) -> User:
    return _user("fiona", FINANCE)


@pytest.fixture
def reviewer_user(db) -> User:
    return _user("ravi", REVIEWER)


@pytest.fixture
def admin_user(db) -> User:
    return _user("ada", ADMIN)


@pytest.fixture
def norole_user(db) -> User:
    return _user("nora", None)


@pytest.fixture
def client_for(client):
    """``client_for(user)``: a test client signed in as ``user``."""

    def sign_in(user: User):
        client.force_login(user)
        return client

    return sign_in
