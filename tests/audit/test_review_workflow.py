"""Review workflow: take, dismiss, confirm, escalate, bulk dismiss; permissions; history."""

import threading

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from aoai_portal.roles import REVIEWER
from audit.models import AccessAuditEntry, ReviewEvent, ReviewItem
from audit.services.flags import flags_evaluate
from audit.services.review import (
    ReviewError,
    review_bulk_dismiss,
    review_confirm,
    review_dismiss,
    review_escalate,
    review_release,
    review_take,
)
from tests.factories import chat_request_create

pytestmark = pytest.mark.django_db


def flagged(correlation_id: str = "w-1") -> ReviewItem:
    chat_request_create(correlation_id, prompt="card 4111111111111111")
    flags_evaluate(correlation_ids=[correlation_id])
    return ReviewItem.objects.get(request__correlation_id=correlation_id)


def other_reviewer() -> User:
    user = User.objects.create_user("rita")
    user.groups.add(Group.objects.get_or_create(name=REVIEWER)[0])
    return user


def test_an_item_goes_from_open_to_escalated_with_history(reviewer_user):
    item = flagged()
    review_take(item_id=item.pk, user=reviewer_user)
    review_confirm(item_id=item.pk, user=reviewer_user, note="real card number")
    item = review_escalate(item_id=item.pk, user=reviewer_user, note="to security")
    assert (item.status, item.assignee, item.note) == ("escalated", reviewer_user, "to security")
    history = list(item.events.values_list("action", "from_status", "to_status", "username"))
    assert history == [
        ("take", "open", "in_review", "ravi"),
        ("confirm", "in_review", "confirmed", "ravi"),
        ("escalate", "confirmed", "escalated", "ravi"),
    ]


@pytest.mark.parametrize("step", [review_confirm, review_escalate])
def test_confirm_and_escalate_need_a_note(reviewer_user, step):
    item = flagged()
    review_take(item_id=item.pk, user=reviewer_user)
    if step is review_escalate:
        review_confirm(item_id=item.pk, user=reviewer_user, note="yes")
    with pytest.raises(ReviewError, match="note is required"):
        step(item_id=item.pk, user=reviewer_user, note="  ")


def test_it_refuses_transitions_out_of_order(reviewer_user):
    item = flagged()
    with pytest.raises(ReviewError, match="Cannot confirm an item that is open"):
        review_confirm(item_id=item.pk, user=reviewer_user, note="x")
    review_dismiss(item_id=item.pk, user=reviewer_user)
    with pytest.raises(ReviewError, match="Cannot escalate"):
        review_escalate(item_id=item.pk, user=reviewer_user, note="x")


def test_two_reviewers_cannot_take_the_same_item(reviewer_user):
    item = flagged()
    rita = other_reviewer()
    review_take(item_id=item.pk, user=reviewer_user)
    with pytest.raises(ReviewError, match="already in review by ravi"):
        review_take(item_id=item.pk, user=rita)
    with pytest.raises(ReviewError, match="assigned to another reviewer"):
        review_confirm(item_id=item.pk, user=rita, note="mine now")
    assert ReviewItem.objects.get().assignee == reviewer_user


@pytest.mark.django_db(transaction=True)
def test_of_two_concurrent_takes_exactly_one_wins():
    item = flagged("w-race")
    users = [User.objects.create_user(f"r{i}") for i in range(2)]
    barrier = threading.Barrier(2)
    results: list[str] = []

    def take(user):
        try:
            barrier.wait()
            review_take(item_id=item.pk, user=user)
            results.append("won")
        except ReviewError:
            results.append("lost")
        except Exception:  # noqa: BLE001 - SQLite may answer "database is locked" instead
            results.append("lost")
        finally:
            connection.close()

    threads = [threading.Thread(target=take, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["lost", "won"]
    assert ReviewEvent.objects.filter(action="take").count() == 1


def test_bulk_dismiss_needs_a_note_and_skips_items_taken_by_others(reviewer_user):
    mine, theirs, free = flagged("w-a"), flagged("w-b"), flagged("w-c")
    review_take(item_id=mine.pk, user=reviewer_user)
    review_take(item_id=theirs.pk, user=other_reviewer())
    with pytest.raises(ReviewError, match="note is required"):
        review_bulk_dismiss(item_ids=[free.pk], user=reviewer_user, note="")
    count = review_bulk_dismiss(item_ids=[mine.pk, theirs.pk, free.pk], user=reviewer_user, note="test data")
    assert count == 2
    statuses = dict(ReviewItem.objects.values_list("request__correlation_id", "status"))
    assert statuses == {"w-a": "dismissed", "w-b": "in_review", "w-c": "dismissed"}
    assert ReviewEvent.objects.filter(action="bulk_dismiss", note="test data").count() == 2


def test_only_an_admin_releases_a_confirmed_item(reviewer_user, admin_user):
    item = flagged()
    review_take(item_id=item.pk, user=reviewer_user)
    review_confirm(item_id=item.pk, user=reviewer_user, note="real")
    with pytest.raises(ReviewError, match="Only an admin"):
        review_release(item_id=item.pk, user=reviewer_user)
    assert review_release(item_id=item.pk, user=admin_user).released_at is not None


# --- Pages and permissions ---------------------------------------------------------------------


def test_finance_cannot_open_the_queue_or_a_request(client_for, finance_user):
    flagged()
    client = client_for(finance_user)
    assert client.get("/review/").status_code == 403
    assert client.get("/requests/w-1/").status_code == 403
    assert not AccessAuditEntry.objects.exists()


def test_a_reviewer_cannot_edit_rules(client_for, reviewer_user):
    client = client_for(reviewer_user)
    assert client.get("/admin/audit/flagrule/").status_code in (302, 403)
    response = client.post("/admin/audit/flagrule/add/", {"name": "x", "kind": "keywords", "pattern": "x"})
    assert response.status_code in (302, 403)
    from audit.models import FlagRule

    assert not FlagRule.objects.exists()


def test_an_admin_adds_a_rule_and_a_bad_pattern_is_shown_as_an_error(client_for, admin_user):
    client = client_for(admin_user)
    data = {
        "name": "slow",
        "kind": "regex",
        "pattern": "(a+)+$",
        "scope": "both",
        "severity": 2,
        "subscriptions": "[]",
    }
    response = client.post("/admin/audit/flagrule/add/", data)
    assert response.status_code == 200 and b"catastrophic backtracking" in response.content
    data["pattern"] = r"\bfalcon\b"
    response = client.post("/admin/audit/flagrule/add/", {**data, "enabled": "on"})
    assert response.status_code == 302


def test_the_queue_lists_items_with_counts_and_filters(client_for, reviewer_user):
    flagged("w-1")
    chat_request_create("w-2", prompt="mail bob@example.com", subscription="sub-b")
    flags_evaluate(correlation_ids=["w-2"])
    client = client_for(reviewer_user)
    response = client.get("/review/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "w-1" in body and "w-2" in body
    assert '<div class="value" id="count-open">2</div>' in body
    body = client.get("/review/?severity=3").content.decode()
    assert "w-1" in body and "w-2" not in body
    body = client.get("/review/?subscription=sub-b&rule=detector:email").content.decode()
    assert "w-2" in body and "w-1" not in body
    body = client.get("/review/?status=dismissed").content.decode()
    assert "No flagged requests match." in body


def test_the_queue_filters_by_cost_center(client_for, reviewer_user):
    from usage.models import CostCenter, CostCenterAssignment

    research = CostCenter.objects.create(code="RES", name="Research")
    CostCenterAssignment.objects.create(kind="subscription", key="sub-team-a", cost_center=research)
    flagged("w-1")
    chat_request_create("w-2", prompt="card 4111111111111111", subscription="sub-other")
    flags_evaluate(correlation_ids=["w-2"])
    body = client_for(reviewer_user).get("/review/?cost_center=RES").content.decode()
    assert "w-1" in body and "w-2" not in body


def test_workflow_actions_from_the_detail_page(client_for, reviewer_user):
    item = flagged()
    client = client_for(reviewer_user)
    response = client.post(f"/review/items/{item.pk}/", {"action": "take"})
    assert response.status_code == 302 and response["Location"] == "/requests/w-1/"
    response = client.post(f"/review/items/{item.pk}/", {"action": "confirm", "note": ""}, follow=True)
    assert b"A note is required to confirm" in response.content
    client.post(f"/review/items/{item.pk}/", {"action": "confirm", "note": "real"})
    assert ReviewItem.objects.get().status == "confirmed"


def test_bulk_dismiss_from_the_queue(client_for, reviewer_user):
    items = [flagged("w-1"), flagged("w-2")]
    client = client_for(reviewer_user)
    response = client.post(
        "/review/bulk-dismiss/",
        {"item": [i.pk for i in items], "note": "test traffic", "next": "/review/?status=open"},
    )
    assert response.status_code == 302 and response["Location"] == "/review/?status=open"
    assert set(ReviewItem.objects.values_list("status", flat=True)) == {"dismissed"}


def test_the_admin_action_re_evaluates_a_date_range(client_for, admin_user):
    from audit.models import Flag, FlagRule

    rule = FlagRule.objects.create(name="falcon", kind="keywords", pattern="falcon")
    chat_request_create("w-in", prompt="project falcon")
    client = client_for(admin_user)
    url = "/admin/audit/flagrule/"
    form = client.post(url, {"action": "reevaluate_range", "_selected_action": [rule.pk]})
    assert form.status_code == 200 and b"Re-evaluate" in form.content
    response = client.post(
        url,
        {
            "action": "reevaluate_range",
            "_selected_action": [rule.pk],
            "apply": "1",
            "since": "2026-03-10",
            "until": "2026-03-10",
        },
        follow=True,
    )
    assert b"Re-evaluated 1 requests" in response.content
    assert Flag.objects.get().name == "falcon"
