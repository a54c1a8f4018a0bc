"""Shared fixtures: named people, one per role (healthchecks style)."""

import pytest
from django.contrib.auth.models import Group, User

from aoai_portal.roles import ADMIN, FINANCE, REVIEWER

# entra_provider / entra: the local OpenID Connect provider of the sign-in tests.
# emulator / logs: the local Log Analytics emulator loaded with generated rows (pull tests).
pytest_plugins = ["tests.support.oidc_provider", "tests.support.log_analytics_fixtures"]


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
