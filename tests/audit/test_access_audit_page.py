"""The access audit: a filterable page for admins, and an admin view nobody can edit."""

from datetime import UTC, datetime

import pytest
from django.test import RequestFactory

from aoai_portal.access_audit import access_audit_record
from audit.models import AccessAuditEntry


def _entry(user, *, action="view_prompt", correlation_id="c-1", when=None, ip="10.0.0.7"):
    request = RequestFactory().get("/", REMOTE_ADDR=ip)
    entry = access_audit_record(request=request, user=user, action=action, correlation_id=correlation_id)
    if when is not None:
        AccessAuditEntry.objects.filter(pk=entry.pk).update(time=when)
    return entry


@pytest.fixture
def entries(reviewer_user, finance_user):
    _entry(reviewer_user, correlation_id="c-old", when=datetime(2026, 3, 1, 23, 59, tzinfo=UTC))
    _entry(reviewer_user, correlation_id="c-mid", when=datetime(2026, 3, 2, 0, 0, tzinfo=UTC))
    _entry(finance_user, action="export", correlation_id="", when=datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    _entry(reviewer_user, correlation_id="c-new", when=datetime(2026, 3, 3, 0, 0, tzinfo=UTC))


def _ids(response) -> list[str]:
    return [e.correlation_id or e.action for e in response.context["page"].object_list]


def test_it_lists_entries_newest_first_with_who_what_and_ip(client_for, admin_user, entries):
    response = client_for(admin_user).get("/access-audit/")
    assert response.status_code == 200
    assert _ids(response) == ["c-new", "export", "c-mid", "c-old"]
    assert b"10.0.0.7" in response.content and b"ravi" in response.content


def test_it_filters_by_user_action_and_utc_days(client_for, admin_user, entries):
    client = client_for(admin_user)
    assert _ids(client.get("/access-audit/?user=RAV")) == ["c-new", "c-mid", "c-old"]
    assert _ids(client.get("/access-audit/?action=export")) == ["export"]
    # date_to is inclusive, date_from starts at 00:00 UTC.
    assert _ids(client.get("/access-audit/?date_from=2026-03-02&date_to=2026-03-02")) == ["export", "c-mid"]


def test_it_shows_a_clear_error_for_bad_filters(client_for, admin_user, entries):
    response = client_for(admin_user).get(
        "/access-audit/?date_from=2026-03-05&date_to=2026-03-01&action=nope"
    )
    assert response.status_code == 200
    assert b"is after" in response.content and b"Select a valid choice" in response.content
    assert len(_ids(response)) == 4


def test_it_paginates(client_for, admin_user, reviewer_user):
    for i in range(55):
        _entry(reviewer_user, correlation_id=f"c-{i:02}")
    client = client_for(admin_user)
    first = client.get("/access-audit/?user=ravi")
    second = client.get("/access-audit/?user=ravi&page=2")
    assert len(_ids(first)) == 50 and len(_ids(second)) == 5
    assert set(_ids(first)).isdisjoint(_ids(second))
    assert b"user=ravi&amp;page=2" in first.content


@pytest.mark.parametrize("who", ["finance_user", "reviewer_user"])
def test_only_admins_see_the_access_audit(client_for, request, who):
    assert client_for(request.getfixturevalue(who)).get("/access-audit/").status_code == 403


def test_the_access_audit_api_filters_and_pages(client_for, admin_user, entries):
    data = client_for(admin_user).get("/api/v1/access-audit?user=ravi&limit=2&offset=1").json()
    assert data["count"] == 3
    assert [e["correlation_id"] for e in data["entries"]] == ["c-mid", "c-old"]


def test_the_admin_shows_audit_entries_but_nobody_can_change_them(client, admin_user, entries):
    from django.contrib.auth.models import User

    root = User.objects.create_superuser("root", "r@example.com", "pw-root-123456")
    for user in (admin_user, root):
        client.force_login(user)
        entry = AccessAuditEntry.objects.first()
        assert client.get("/admin/audit/accessauditentry/").status_code == 200
        assert client.get(f"/admin/audit/accessauditentry/{entry.pk}/change/").status_code == 200
        assert client.get("/admin/audit/accessauditentry/add/").status_code == 403
        assert client.get(f"/admin/audit/accessauditentry/{entry.pk}/delete/").status_code == 403
        client.post(
            f"/admin/audit/accessauditentry/{entry.pk}/change/", {"reason": "edited", "username": "x"}
        )
        client.post(
            "/admin/audit/accessauditentry/",
            {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
        )
        entry.refresh_from_db()
        assert entry.reason == "" and entry.username == "ravi"
    assert AccessAuditEntry.objects.count() == 4
