"""The request explorer: every filter, keyset pages without counting, and no input that breaks it."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.explorer import ExplorerFilters, requests_explore
from audit.services.flags import flags_evaluate
from tests.factories import chat_request_create, gateway_request_create
from usage.models import NamedIdentity

pytestmark = pytest.mark.django_db

T = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def ids(**filters) -> list[str]:
    return [row.correlation_id for row in requests_explore(filters=ExplorerFilters(**filters)).rows]


def test_each_filter_finds_its_requests():
    gateway_request_create(
        correlation_id="e-1", time=T, apim_subscription_id="sub-a", deployment="gpt-4o", model="gpt-4o",
        response_code=200, caller_object_id="oid-ada",
    )
    gateway_request_create(
        correlation_id="e-2", time=T + timedelta(hours=1), apim_subscription_id="sub-b",
        deployment="mini", model="gpt-4o-mini", response_code=429, caller_object_id="oid-bob",
    )
    gateway_request_create(correlation_id="e-3", time=T + timedelta(hours=2), response_code=503)
    gateway_request_create(correlation_id="e-4", time=T + timedelta(hours=3), response_code=404)
    gateway_request_create(correlation_id="e-5", time=T + timedelta(hours=4), response_code=None)
    chat_request_create("e-6", prompt="mail bob@example.com", time=T + timedelta(hours=5))
    flags_evaluate(correlation_ids=["e-6"])
    NamedIdentity.objects.create(object_id="oid-bob", display_name="Bob", email="Bob@Example.com")

    assert ids() == ["e-6", "e-5", "e-4", "e-3", "e-2", "e-1"]
    assert ids(since=T + timedelta(hours=1), until=T + timedelta(hours=3)) == ["e-3", "e-2"]
    assert ids(subscription="sub-b") == ["e-2"]
    assert ids(person="oid-ada") == ["e-1"]
    assert ids(person="bob@example.com") == ["e-2"]  # an e-mail of a known person
    assert ids(person="nobody@example.com") == []
    assert ids(deployment="mini") == ["e-2"]
    assert ids(model="gpt-4o") == ["e-1"]
    assert ids(status="2xx") == ["e-6", "e-1"]
    assert ids(status="429") == ["e-2"]
    assert ids(status="4xx") == ["e-4"]
    assert ids(status="5xx") == ["e-3"]
    assert ids(status="unknown") == ["e-5"]
    assert ids(flag="any") == ["e-6"]
    assert ids(flag="detector:email") == ["e-6"]
    assert ids(flag="detector:secret") == []
    assert ids(correlation_id="e-3") == ["e-3"]


def test_keyset_pages_walk_every_request_once_without_counting(client_for, reviewer_user):
    # Pairs share a time: the id breaks the tie, so no row is shown twice or skipped.
    for n in range(120):
        gateway_request_create(correlation_id=f"p-{n:03d}", time=T + timedelta(minutes=n // 2))
    client = client_for(reviewer_user)
    seen: list[str] = []
    url = "/requests/?from=2026-03-01"
    pages = 0
    while url:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        sql = " ".join(q["sql"] for q in queries.captured_queries)
        assert "COUNT(" not in sql.upper() and "LIMIT 51" in sql
        body = response.content.decode()
        seen += [line.split(">")[1].split("<")[0] for line in body.split('<a href="/requests/p-')[1:]]
        pages += 1
        next_link = body.split('rel="next"')[0].rsplit('href="', 1)[-1].split('"')[0] if 'rel="next"' in body else ""
        url = next_link.replace("&amp;", "&")
        if url:
            assert parse_qs(urlparse(url).query)["from"] == ["2026-03-01"]  # the filters stay
    assert pages == 3
    assert seen == [f"p-{n:03d}" for n in reversed(range(120))]


def test_a_page_lists_flags_and_names_and_links_the_audited_request_page(client_for, reviewer_user):
    chat_request_create("x-1", prompt="mail bob@example.com")
    flags_evaluate(correlation_ids=["x-1"])
    from usage.models import GatewayRequest

    GatewayRequest.objects.filter(correlation_id="x-1").update(caller_object_id="oid-ada")
    NamedIdentity.objects.create(object_id="oid-ada", display_name="Ada Lovelace")
    body = client_for(reviewer_user).get("/requests/?flag=any").content.decode()
    assert '<a href="/requests/x-1/">x-1</a>' in body
    assert "Ada Lovelace" in body and ">email<" in body
    assert "bob@example.com" not in body  # no prompt text on the list


@pytest.mark.parametrize(
    "query",
    [
        "from=yesterday",
        "from=9999-01-01",
        "to=2026-03-01&from=2026-03-02",
        "status=7xx",
        "flag=rule:999",
        "after=nonsense",
        "after=2026-03-01T00:00:00%2B00:00,99999999999999999999",
        "after=0001-01-01,5",
        "subscription=" + "x" * 300,
    ],
)
def test_a_value_it_cannot_use_is_a_400_with_the_reason(client_for, reviewer_user, query):
    response = client_for(reviewer_user).get(f"/requests/?{query}")
    assert response.status_code == 400
    assert 'id="explorer-error"' in response.content.decode()


def test_finance_cannot_open_the_explorer_and_reviewers_see_it_in_the_navigation(
    client_for, finance_user, reviewer_user
):
    assert client_for(finance_user).get("/requests/").status_code == 403
    assert '<a href="/requests/"' not in client_for(finance_user).get("/chargeback/").content.decode()
    assert '<a href="/requests/"' in client_for(reviewer_user).get("/review/").content.decode()
