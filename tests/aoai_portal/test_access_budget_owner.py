"""A budget owner tries to reach another cost center by URL parameters, on every page, export and
endpoint they may open; and cannot open the pages that are not theirs.

March 2026 (``march_build``): sub-a (deployments chat and chat2) is charged to RND "Research",
sub-b (chat only) to FIN "Finance". Bea owns FIN. Nothing of RND may show: not its code, name,
subscription, its chat2 deployment or its money; the answer is her own data or an empty one,
never an error page.
"""

import io
import re

import pytest
from openpyxl import load_workbook

from aoai_portal.auth.services import api_token_create
from tests.factories import budget_owner_create
from tests.support.true_up_data import march_build
from usage.models import GatewayRequest

pytestmark = pytest.mark.django_db
M = "month=2026-03"
# What would betray RND's data. Pages echo the filters a user typed (breadcrumbs, hidden inputs,
# links keeping the query): those are left out before looking.
RND_MARKS = ("Research", "chat2", "RND")


@pytest.fixture
def bea(client):
    march_build()
    client.force_login(budget_owner_create("bea", owns=("FIN",)))
    return client


def _text(response) -> str:
    assert response.status_code == 200, (response.status_code, response.content[:300])
    return response.content.decode()


def _without_echo(text: str) -> str:
    """The page without what only repeats the query string: breadcrumbs, hidden inputs, links."""
    text = re.sub(r'<nav aria-label="Breadcrumb".*?</nav>', "", text, flags=re.S)
    text = re.sub(r'<input type="hidden"[^>]*>', "", text)
    return re.sub(r'href="[^"]*"', "", text)


def _no_rnd(text: str, *, echo_allowed: bool = False) -> None:
    if echo_allowed:
        text = _without_echo(text)
    for mark in RND_MARKS:
        assert mark not in text, f"{mark!r} leaked"
    assert "sub-a" not in text


def _money(text: str) -> set[str]:
    # sub-a's computed costs: 1.50 (chat) and 0.50 (chat2), 2.00 together, 2.50 with sub-b.
    return set(re.findall(r"\b[12]\.[05]0\b", text))


PAGE_ATTEMPTS = [
    f"/chargeback/?{M}",
    f"/chargeback/?{M}&cost_center=RND",
    f"/chargeback/?{M}&cost_center=(none)",
    f"/chargeback/?{M}&subscription=sub-a",
    f"/chargeback/?{M}&cost_center=FIN&subscription=sub-a",
    f"/chargeback/?{M}&subscription=sub-a&deployment=chat2&model=gpt-4o",
    f"/chargeback/?{M}&cost_center=RND&identities=1",
    f"/chargeback/?{M}&model=gpt-4o",
    # People and apps, and the drill-down to one caller's requests.
    f"/chargeback/?{M}&identities=1&person=(unidentified)",
    f"/chargeback/?{M}&cost_center=RND&identities=1&person=(unidentified)",
]


@pytest.mark.parametrize("url", PAGE_ATTEMPTS)
def test_chargeback_pages_show_only_her_cost_center_whatever_the_parameters(bea, url):
    text = _text(bea.get(url))
    _no_rnd(text, echo_allowed=True)
    assert not _money(text) - {"0.50"}, "another cost center's money is on the page"


def test_her_own_drill_down_works(bea):
    text = _text(bea.get(f"/chargeback/?{M}"))
    assert "FIN" in text and "Finance" in text and "0.50" in text
    text = _text(bea.get(f"/chargeback/?{M}&cost_center=FIN"))
    assert "sub-b" in text
    text = _text(bea.get(f"/chargeback/?{M}&subscription=sub-b"))
    assert "chat" in text


EXPORT_ATTEMPTS = [
    f"/chargeback/export.csv?{M}",
    f"/chargeback/export.csv?{M}&cost_center=RND",
    f"/chargeback/export.csv?{M}&subscription=sub-a",
    f"/chargeback/export.csv?{M}&cost_center=(none)",
    f"/chargeback/export.focus.csv?{M}&cost_center=RND&subscription=sub-a",
    f"/chargeback/export.csv?{M}&by=person",
    f"/chargeback/export.csv?{M}&cost_center=RND&by=person",
]


@pytest.mark.parametrize("url", EXPORT_ATTEMPTS)
def test_exports_carry_only_her_cost_center(bea, url):
    text = _text(bea.get(url))
    _no_rnd(text, echo_allowed="subscription=sub-a" in url and "focus" not in url)
    assert "1.50" not in text and "2.50" not in text


def test_the_focus_export_bills_her_her_share_of_the_invoice_only(bea):
    text = _text(bea.get(f"/chargeback/export.focus.csv?{M}"))
    _no_rnd(text)
    assert "sub-b" in text and "(unallocated)" not in text


def test_the_xlsx_export_of_another_cost_center_is_empty(bea):
    response = bea.get(f"/chargeback/export.xlsx?{M}&cost_center=RND")
    assert response.status_code == 200
    cells = [str(c) for row in load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True) for c in row]
    assert not any(mark in cell for cell in cells for mark in RND_MARKS)
    response = bea.get(f"/chargeback/export.xlsx?{M}")
    cells = [str(c) for row in load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True) for c in row]
    assert "FIN" in cells and not any("sub-a" in cell for cell in cells)


API_ATTEMPTS = [
    "/api/v1/chargeback?month=2026-03&group_by=cost_center",
    "/api/v1/chargeback?month=2026-03&group_by=subscription&cost_center=RND",
    "/api/v1/chargeback?month=2026-03&group_by=deployment&subscription=sub-a",
    "/api/v1/chargeback?month=2026-03&group_by=model",
    "/api/v1/usage?from=2026-03-01&to=2026-04-01&group_by=subscription&subscription=sub-a",
    "/api/v1/usage?from=2026-03-01&to=2026-04-01&group_by=cost_center",
    "/api/v1/usage?from=2026-03-01&to=2026-04-01&group_by=deployment",
    "/api/v1/quotas?month=2026-03&subscription=sub-a",
    "/api/v1/chargeback?month=2026-03&group_by=person",
    "/api/v1/chargeback?month=2026-03&group_by=person&cost_center=RND",
]


def test_by_person_she_is_charged_what_she_is_charged_by_cost_center(bea):
    by_person = bea.get("/api/v1/chargeback?month=2026-03&group_by=person").json()
    by_cost_center = bea.get("/api/v1/chargeback?month=2026-03&group_by=cost_center").json()
    assert by_person["totals"]["cost"] == by_cost_center["totals"]["cost"]
    assert by_person["totals"]["requests"] == by_cost_center["totals"]["requests"] > 0


@pytest.mark.parametrize("url", API_ATTEMPTS)
def test_the_api_answers_with_her_cost_center_only(bea, url):
    text = _text(bea.get(url))
    _no_rnd(text)


@pytest.mark.parametrize("url", API_ATTEMPTS[:4])
def test_her_api_token_sees_what_she_sees(client, url):
    march_build()
    _, raw = api_token_create(user=budget_owner_create("bea", owns=("FIN",)), name="Power BI")
    response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {raw}")
    data = response.json()
    _no_rnd(_text(response))
    assert data["totals"]["cost"] == "0.50000000"


def test_pages_and_endpoints_outside_her_reach_are_refused(bea):
    request = GatewayRequest.objects.filter(apim_subscription_id="sub-a").first()
    for url in (
        f"/chargeback/close/?{M}",
        f"/chargeback/reopen/?{M}",
        f"/reconciliation/?{M}",
        "/latency/",
        "/review/",
        f"/requests/{request.correlation_id}/",
        "/ingestion/",
        "/access-audit/",
        "/admin/",
        "/admin/usage/costcenter/",
    ):
        response = bea.get(url)
        assert response.status_code in (302, 403), url
        if response.status_code == 302:  # the admin site sends non-staff to its own sign-in
            assert "/admin/login/" in response["Location"], url
    for url in (f"/api/v1/reconciliation?{M}", "/api/v1/flags", "/api/v1/access-audit"):
        assert bea.get(url).status_code == 403, url


def test_a_budget_owner_without_cost_centers_gets_empty_answers_not_errors(client):
    march_build()
    client.force_login(budget_owner_create("ned"))
    for url in (
        f"/chargeback/?{M}",
        f"/chargeback/export.csv?{M}",
        f"/chargeback/export.focus.csv?{M}",
        "/quotas/?month=2026-03",
    ):
        text = _text(client.get(url))
        _no_rnd(text)
        assert "sub-b" not in text
    data = client.get("/api/v1/chargeback?month=2026-03").json()
    assert data["totals"]["cost"] == "0.00000000"
    assert data["totals"]["invoiced_cost"] == "0.00000000"


def test_bad_parameters_answer_400_not_500(bea):
    assert bea.get("/chargeback/?month=2026-13").status_code == 400
    assert bea.get("/chargeback/export.csv?month=nope&cost_center=RND").status_code == 400
    assert bea.get(f"/chargeback/?{M}&cost_center=%3Cscript%3E").status_code == 200
    assert bea.get("/api/v1/chargeback?month=2026-03&group_by=person_or_whatever").status_code == 422


def test_her_navigation_offers_what_she_may_open(bea):
    text = _text(bea.get(f"/chargeback/?{M}"))
    nav = text.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    assert re.findall(r">([^<>]+)</a>", nav) == ["Chargeback", "Quotas", "My API tokens"]


def test_her_quota_page_lists_the_alerts_of_her_subscriptions_only(bea, client, finance_user):
    from datetime import date

    from quotas.models import QuotaAlert

    for subscription in ("sub-a", "sub-b"):
        QuotaAlert.objects.create(
            apim_subscription_id=subscription, month=date(2026, 3, 1), kind="quota", threshold=80,
            tier_name="Tier of " + subscription, used=900, limit=1000, channel="email",
        )  # fmt: skip
    text = _text(bea.get("/quotas/?month=2026-03"))
    assert 'data-subscription="sub-b" data-kind="quota"' in text and "Tier of sub-b" in text
    _no_rnd(text)
    client.force_login(finance_user)
    everything = _text(client.get("/quotas/?month=2026-03"))
    assert "Tier of sub-a" in everything and "Tier of sub-b" in everything
