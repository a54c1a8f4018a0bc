"""Review workflow: take, dismiss, confirm, escalate, bulk actions; permissions; history."""

import threading
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from aoai_portal.roles import REVIEWER
from audit.models import AccessAuditEntry, ReviewEvent, ReviewItem
from audit.services.flags import flags_evaluate
from audit.services.review import (
    ReviewError,
    review_bulk_act,
    review_confirm,
    review_dismiss,
    review_escalate,
    review_item_act,
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
        review_bulk_act(item_ids=[free.pk], user=reviewer_user, action="dismiss", note="")
    done = review_bulk_act(
        item_ids=[mine.pk, theirs.pk, free.pk], user=reviewer_user, action="dismiss", note="test data"
    )
    assert done == (2, 1)
    statuses = dict(ReviewItem.objects.values_list("request__correlation_id", "status"))
    assert statuses == {"w-a": "dismissed", "w-b": "in_review", "w-c": "dismissed"}
    assert ReviewEvent.objects.filter(action="dismiss", note="test data").count() == 2


def test_bulk_take_needs_no_note_and_each_item_gets_its_event(reviewer_user):
    items = [flagged("w-a"), flagged("w-b")]
    assert review_bulk_act(item_ids=[i.pk for i in items], user=reviewer_user, action="take", note="") == (2, 0)
    assert set(ReviewItem.objects.values_list("status", "assignee")) == {("in_review", reviewer_user.pk)}
    assert sorted(ReviewEvent.objects.filter(action="take").values_list("item_id", flat=True)) == sorted(
        i.pk for i in items
    )


def test_confirming_an_open_item_takes_it_first_and_escalating_confirms_it_first(reviewer_user):
    confirmed, escalated = flagged("w-a"), flagged("w-b")
    review_item_act(item_id=confirmed.pk, user=reviewer_user, action="confirm", note="real")
    review_item_act(item_id=escalated.pk, user=reviewer_user, action="escalate", note="worse")
    steps = list(ReviewEvent.objects.order_by("pk").values_list("item_id", "action", "from_status", "to_status"))
    assert steps == [
        (confirmed.pk, "take", "open", "in_review"),
        (confirmed.pk, "confirm", "in_review", "confirmed"),
        (escalated.pk, "take", "open", "in_review"),
        (escalated.pk, "confirm", "in_review", "confirmed"),
        (escalated.pk, "escalate", "confirmed", "escalated"),
    ]


def test_a_refused_step_leaves_the_item_as_it_was(reviewer_user):
    item = flagged()
    review_take(item_id=item.pk, user=other_reviewer())
    with pytest.raises(ReviewError, match="assigned to another reviewer"):
        review_item_act(item_id=item.pk, user=reviewer_user, action="escalate", note="mine now")
    with pytest.raises(ReviewError, match="note is required"):
        review_item_act(item_id=item.pk, user=reviewer_user, action="confirm", note=" ")
    assert ReviewItem.objects.get().status == "in_review"
    assert list(ReviewEvent.objects.values_list("action", flat=True)) == ["take"]


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


def test_an_action_opens_the_next_item_of_the_queue_it_came_from(client_for, reviewer_user):
    first, second = flagged("w-1"), flagged("w-2")
    client = client_for(reviewer_user)
    queue = "status=open&order=oldest"
    response = client.post(f"/review/items/{first.pk}/", {"action": "take", "queue": queue})
    assert response.status_code == 302
    assert response["Location"] == "/requests/w-2/?" + urlencode({"queue": queue})
    # A refusal stays on the item, with the queue remembered.
    response = client.post(f"/review/items/{second.pk}/", {"action": "escalate", "note": "", "queue": queue})
    assert response["Location"] == "/requests/w-2/?" + urlencode({"queue": queue})
    assert ReviewItem.objects.get(pk=second.pk).status == "open"
    # The last item of the filter: back to the queue, filter kept.
    response = client.post(f"/review/items/{second.pk}/", {"action": "dismiss", "queue": queue}, follow=True)
    assert response.redirect_chain[-1][0] == "/review/?" + queue
    assert b"No more items in this queue." in response.content
    assert dict(ReviewItem.objects.values_list("request__correlation_id", "status")) == {
        "w-1": "in_review",
        "w-2": "dismissed",
    }


def test_the_request_page_links_the_previous_and_next_item(client_for, reviewer_user):
    for name in ("w-1", "w-2", "w-3"):
        flagged(name)
    queue = urlencode({"queue": "order=oldest"})
    body = client_for(reviewer_user).get(f"/requests/w-2/?{queue}").content.decode()
    assert f'href="/requests/w-1/?{queue}" data-shortcut="k"' in body
    assert f'href="/requests/w-3/?{queue}" data-shortcut="j"' in body
    assert 'name="queue" value="order=oldest"' in body


def test_bulk_actions_from_the_queue(client_for, reviewer_user):
    items = [flagged("w-1"), flagged("w-2")]
    client = client_for(reviewer_user)
    response = client.post(
        "/review/bulk/",
        {"item": [i.pk for i in items], "action": "dismiss", "note": "test traffic", "next": "/review/?status=open"},
    )
    assert response.status_code == 302 and response["Location"] == "/review/?status=open"
    assert set(ReviewItem.objects.values_list("status", flat=True)) == {"dismissed"}
    assert ReviewEvent.objects.filter(action="dismiss", username=reviewer_user.username).count() == 2
    response = client.post("/review/bulk/", {"item": [items[0].pk], "action": "drop"}, follow=True)
    assert b"Choose an action." in response.content
    response = client.post("/review/bulk/", {"item": ["99999999999999999999"], "action": "take"}, follow=True)
    assert response.status_code == 200 and b"Select the items to take." in response.content


def test_bulk_actions_need_the_csrf_token(reviewer_user):
    from django.test import Client

    item = flagged()
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer_user)
    assert client.post("/review/bulk/", {"item": [item.pk], "action": "take"}).status_code == 403
    assert ReviewItem.objects.get().status == "open"


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
