"""The review queue filters and sorts on ReviewItem's copies of the request's fields."""

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from audit.models import ReviewItem
from audit.selectors import (
    TODO,
    QueueFilters,
    review_items_filter,
    review_items_requests_attach,
    review_queue_count,
    review_status_counts,
)
from audit.services.flags import flags_evaluate
from tests.factories import chat_request_create
from tests.support.review_data import T0
from usage.models import CostCenter, CostCenterAssignment, GatewayRequest

pytestmark = pytest.mark.django_db

CARD = "card 4111111111111111"  # high severity
MAIL = "mail bob@example.com"  # lower severity


def test_flags_evaluate_copies_the_request_fields_and_keeps_them_in_step():
    chat_request_create("q-1", prompt=CARD, time=T0, subscription="sub-a", product="prod-a")
    flags_evaluate(correlation_ids=["q-1"])
    item = ReviewItem.objects.get()
    assert (item.request_time, item.apim_subscription_id, item.product_id) == (T0, "sub-a", "prod-a")
    GatewayRequest.objects.filter(correlation_id="q-1").update(apim_subscription_id="sub-b", product_id="")
    flags_evaluate(correlation_ids=["q-1"])
    item.refresh_from_db()
    assert (item.request_time, item.apim_subscription_id, item.product_id) == (T0, "sub-b", "")


def test_the_queue_sorts_by_request_time_and_severity_and_filters_on_the_copies():
    chat_request_create("old-card", prompt=CARD, time=T0, subscription="sub-a")
    chat_request_create("new-mail", prompt=MAIL, time=T0 + timedelta(hours=2), subscription="sub-b")
    chat_request_create("mid-card", prompt=CARD, time=T0 + timedelta(hours=1), product="prod-x", subscription="")
    flags_evaluate(correlation_ids=["old-card", "new-mail", "mid-card"])

    def ids(**filters) -> list[str]:
        items = review_items_requests_attach(list(review_items_filter(filters=QueueFilters(**filters))))
        return [item.request.correlation_id for item in items]

    # Most severe first, then the one waiting longest (request time, not ingestion).
    assert ids() == ["old-card", "mid-card", "new-mail"]
    assert ids(order="newest") == ["new-mail", "mid-card", "old-card"]
    assert ids(order="oldest") == ["old-card", "mid-card", "new-mail"]
    assert ids(subscription="sub-b") == ["new-mail"]
    assert ids(since=T0 + timedelta(hours=1)) == ["mid-card", "new-mail"]
    assert ids(until=T0 + timedelta(hours=1)) == ["old-card"]
    assert ids(rule="detector:email") == ["new-mail"]
    ops = CostCenter.objects.create(code="OPS", name="Ops")
    CostCenterAssignment.objects.create(kind="product", key="prod-x", cost_center=ops)
    assert ids(cost_center="OPS") == ["mid-card"]


def test_the_queue_pages_show_the_requests(client_for, reviewer_user):
    names = [f"p-{n:02d}" for n in range(55)]
    for n, name in enumerate(names):
        chat_request_create(name, prompt=CARD, time=T0 + timedelta(minutes=n))
    flags_evaluate(correlation_ids=names)
    client = client_for(reviewer_user)
    first = client.get("/review/").content.decode()
    second = client.get("/review/?page=2").content.decode()
    # One severity: the longest waiting first.
    assert "55 items" in first and "p-00" in first and "p-49" in first and "p-50" not in first
    assert "p-50" in second and "p-54" in second and "p-49" not in second


def test_the_queue_ticks_items_by_their_plain_ids_past_999(client_for, reviewer_user):
    """USE_THOUSAND_SEPARATOR would print 12345 as "12,345", which the bulk action cannot read."""
    chat_request_create("big-id", prompt=CARD)
    flags_evaluate(correlation_ids=["big-id"])
    ReviewItem.objects.update(id=12345)
    client = client_for(reviewer_user)
    assert 'name="item" value="12345"' in client.get("/review/").content.decode()
    response = client.post("/review/bulk/", {"item": "12345", "action": "take"}, follow=True)
    assert "Took 1 item." in response.content.decode()


def test_the_queue_shows_what_is_left_to_do_unless_asked_for_any_status(client_for, reviewer_user):
    chat_request_create("open-1", prompt=CARD)
    chat_request_create("done-1", prompt=CARD)
    flags_evaluate(correlation_ids=["open-1", "done-1"])
    ReviewItem.objects.filter(request__correlation_id="done-1").update(status="dismissed")
    client = client_for(reviewer_user)
    default = client.get("/review/").content.decode()
    assert "open-1" in default and "done-1" not in default
    assert "done-1" not in client.get("/review/?severity=3").content.decode()
    assert "done-1" in client.get("/review/?status=").content.decode()


def test_a_queue_filtered_by_status_alone_is_counted_from_the_status_counts(client_for, reviewer_user):
    names = [f"s-{n}" for n in range(7)]
    for name in names:
        chat_request_create(name, prompt=CARD if name < "s-4" else MAIL, subscription="sub-a")
    flags_evaluate(correlation_ids=names)
    ReviewItem.objects.filter(request__correlation_id__in=["s-0", "s-5"]).update(status="dismissed")
    ReviewItem.objects.filter(request__correlation_id="s-1").update(status="in_review")
    counts = review_status_counts()
    for status in (TODO, "", "open", "in_review", "dismissed", "confirmed"):
        filters = QueueFilters(status=status)
        assert review_queue_count(filters=filters, status_counts=counts) == review_items_filter(filters=filters).count()
    for other in ({"severity": 3}, {"subscription": "sub-a"}, {"rule": "detector:email"}, {"since": T0}):
        assert review_queue_count(filters=QueueFilters(status=TODO, **other), status_counts=counts) is None
    client = client_for(reviewer_user)
    assert "5 items" in client.get("/review/").content.decode()  # open and in review
    assert "2 items" in client.get("/review/?status=dismissed").content.decode()
    assert "3 items" in client.get("/review/?severity=3").content.decode()  # counted by the page


@freeze_time("2026-03-10 19:00:00")
def test_in_queue_for_counts_from_the_request_time_not_ingestion(client_for, reviewer_user):
    chat_request_create("aged", prompt=CARD, time=datetime(2026, 3, 10, 10, 0, tzinfo=UTC))
    flags_evaluate(correlation_ids=["aged"])  # ingested and flagged "now"
    body = client_for(reviewer_user).get("/review/").content.decode()
    assert '<td class="age" data-value="1773136800">9\xa0hours</td>' in body
    assert '<div class="value" id="oldest-open">9\xa0hours</div>' in body
