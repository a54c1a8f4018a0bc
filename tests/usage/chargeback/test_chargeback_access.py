"""Who may see, export, close and reopen chargeback, and the admin's list of unassigned subscriptions."""

import pytest
from django.contrib.auth.models import User

from tests.support.chargeback_data import MONTH, world_build
from tests.support.module_rows import module_rows
from usage.models import MonthClose

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The generated month (``world_build``), built once for the module; each test's changes are
    undone (module rows)."""
    with module_rows(django_db_blocker):
        yield world_build()


FINANCE_URLS = [
    "/chargeback/?month=2026-10",
    "/chargeback/export.csv?month=2026-10",
    "/chargeback/export.xlsx?month=2026-10",
    "/chargeback/close/?month=2026-10",
    "/api/v1/chargeback?month=2026-10",
    "/api/v1/usage?from=2026-10-01&to=2026-10-02",
]


@pytest.mark.parametrize("url", FINANCE_URLS)
def test_a_reviewer_is_forbidden_from_chargeback(client_for, reviewer_user, url):
    assert client_for(reviewer_user).get(url).status_code == 403


@pytest.mark.parametrize("url", FINANCE_URLS)
def test_finance_and_admin_may_open_chargeback(client_for, finance_user, admin_user, url):
    assert client_for(finance_user).get(url).status_code == 200
    assert client_for(admin_user).get(url).status_code == 200


def test_an_anonymous_caller_gets_401_from_the_api(client, db):
    assert client.get("/api/v1/chargeback?month=2026-10").status_code == 401


def test_a_reviewer_cannot_close_or_reopen(client_for, reviewer_user):
    client = client_for(reviewer_user)
    assert client.post("/chargeback/close/", {"month": "2026-10", "confirm": "yes"}).status_code == 403
    assert client.post("/chargeback/reopen/?month=2026-10", {"reason": "x"}).status_code == 403
    assert not MonthClose.objects.exists()


def test_finance_sees_no_reopen_button_but_admin_does(world, client_for, finance_user, admin_user):
    client_for(finance_user).post("/chargeback/close/", {"month": "2026-10", "confirm": "yes"})
    assert "Reopen month" not in client_for(finance_user).get("/chargeback/?month=2026-10").content.decode()
    assert "Reopen month" in client_for(admin_user).get("/chargeback/?month=2026-10").content.decode()


def test_exports_are_recorded_in_the_access_audit(client_for, finance_user):
    from audit.models import AccessAuditEntry

    client_for(finance_user).get("/chargeback/export.csv?month=2026-10&cost_center=FIN")
    entry = AccessAuditEntry.objects.get(action="export")
    assert entry.user == finance_user and "cost_center=FIN" in entry.detail["query"]


def test_the_admin_lists_unassigned_subscriptions_with_links_to_assign_them(world, client, monkeypatch):
    monkeypatch.setattr("usage.admin.UNASSIGNED_LOOKBACK_DAYS", 36_500)  # the generated month may be old
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    html = client.get("/admin/usage/costcenterassignment/unassigned/").content.decode()
    assert "sub-foxtrot" in html and "sub-golf" in html
    assert "sub-alpha" not in html and "sub-bravo" not in html
    assert "/admin/usage/costcenterassignment/add/?kind=subscription&amp;key=sub-foxtrot" in html
    form = client.get(
        "/admin/usage/costcenterassignment/add/?kind=subscription&key=sub-foxtrot"
    ).content.decode()
    assert 'value="sub-foxtrot"' in form
    for url in ("/admin/usage/costcenter/", "/admin/usage/namedidentity/", "/admin/usage/monthclose/"):
        assert client.get(url).status_code == 200


def test_the_admin_shows_a_month_close_read_only_with_its_frozen_totals(world, client):
    from usage.chargeback.services import chargeback_month_close
    from usage.models import MonthClose

    root = User.objects.create_superuser("root", "root@example.com", "pw")
    close = chargeback_month_close(month=MONTH, user=root, warnings_confirmed=True)
    client.force_login(root)
    assert MonthClose.objects.count() == 1
    assert "Oct. 1, 2026" in client.get("/admin/usage/monthclose/").content.decode()
    detail = client.get(f"/admin/usage/monthclose/{close.pk}/change/").content.decode()
    assert "Research: " in detail and "Unassigned: " in detail
    assert 'name="closed_at"' not in detail  # read-only: no input fields
