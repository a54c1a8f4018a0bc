"""The access audit: a filterable page for admins, and an admin view nobody can edit."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import RequestFactory
from freezegun import freeze_time

from aoai_portal.access_audit import access_audit_record
from audit.models import AccessAuditEntry
from tests.factories import chat_request_create


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


def test_it_filters_by_person_action_item_and_utc_days(client_for, admin_user, entries):
    client = client_for(admin_user)
    assert _ids(client.get("/access-audit/?user=RAV")) == ["c-new", "c-mid", "c-old"]
    assert _ids(client.get("/access-audit/?item=c-mid")) == ["c-mid"]
    assert _ids(client.get("/access-audit/?item=c-m")) == []  # a request, not a prefix
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


# --- One entry per person, request and quarter of an hour -------------------------------------------


def test_views_of_one_request_within_15_minutes_are_one_entry_that_counts_them(client_for, reviewer_user):
    chat_request_create("v-1", prompt="hello")
    chat_request_create("v-2", prompt="hello")
    client = client_for(reviewer_user)
    start = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    with freeze_time(start) as clock:
        for _ in range(5):  # the page reloaded after each button press
            client.get("/requests/v-1/")
            clock.tick(timedelta(minutes=2))
        client.get("/requests/v-2/")  # another request: its own entry
        clock.move_to(start + timedelta(minutes=15, seconds=1))
        client.get("/requests/v-1/")  # a new quarter of an hour from the first look
    views = AccessAuditEntry.objects.filter(action="view_prompt").order_by("time", "pk")
    assert [(e.correlation_id, e.detail.get("views", 1)) for e in views] == [("v-1", 5), ("v-2", 1), ("v-1", 1)]
    assert views[0].detail["last_seen"].startswith("2026-03-10T09:08:00")


def test_another_person_address_or_a_reveal_is_a_new_entry(reviewer_user, admin_user):
    first = _entry(reviewer_user, correlation_id="c-1")
    assert _entry(reviewer_user, correlation_id="c-1").pk == first.pk
    assert _entry(admin_user, correlation_id="c-1").pk != first.pk
    assert _entry(reviewer_user, correlation_id="c-1", ip="10.9.9.9").pk != first.pk
    revealed = access_audit_record(
        request=RequestFactory().get("/", REMOTE_ADDR="10.0.0.7"),
        user=reviewer_user,
        action="view_prompt",
        correlation_id="c-1",
        detail={"revealed": True},
    )
    assert revealed.pk != first.pk
    # A look with a reason (the admin site's text view) and any other action are never folded.
    with_reason = access_audit_record(
        request=None, user=reviewer_user, action="view_prompt", correlation_id="c-1", reason="case 7"
    )
    assert with_reason.pk != first.pk
    assert _entry(reviewer_user, action="reveal_secret").pk != _entry(reviewer_user, action="reveal_secret").pk


def test_an_export_records_its_format_and_filters_and_the_page_shows_them(client_for, admin_user):
    client = client_for(admin_user)
    assert client.get("/chargeback/export.csv?month=2026-03&cost_center=CC-1").status_code == 200
    entry = AccessAuditEntry.objects.get(action="export")
    assert entry.detail["format"] == "csv" and entry.detail["what"] == "chargeback"
    assert entry.detail["filters"] == {"month": "2026-03", "cost_center": "CC-1"}
    body = client.get("/access-audit/?action=export").content.decode()
    assert '<td class="detail">chargeback csv · month=2026-03, cost_center=CC-1</td>' in body


def test_the_page_reads_exports_recorded_before_filters_were_kept_apart(client_for, admin_user):
    access_audit_record(
        request=None, user=admin_user, action="export", detail={"what": "chargeback", "format": "xlsx", "query": "month=2026-02"}
    )
    body = client_for(admin_user).get("/access-audit/").content.decode()
    assert '<td class="detail">chargeback xlsx · month=2026-02</td>' in body
