"""/reconciliation/: the month's invoice against the computed cost for finance, with the variance
explained, a chart (offline, no inline script), the month's status, and an empty state."""

import json
import re

from tests.support.costs_data import reconciliation_month
from tests.support.html_nodes import Node, html_parse

URL = "/reconciliation/?month=2026-03"


def _page(client, url: str = URL) -> Node:
    response = client.get(url)
    assert response.status_code == 200
    return html_parse(response.content.decode())


def _cells(row: Node) -> list[str]:
    return [cell.text() for cell in row.children if isinstance(cell, Node) and cell.tag in ("th", "td")]


def _body_rows(page: Node, table_id: str) -> list[Node]:
    table = page.find("table", id=table_id)
    assert table is not None
    return table.find("tbody").find_all("tr")


def test_it_shows_invoice_against_computed_per_account_and_model(client_for, finance_user):
    reconciliation_month()
    page = _page(client_for(finance_user))
    status = page.find(data_testid="status")
    assert status.attrs["data-status"] == "complete"
    assert "Complete" in status.text()
    rows = {
        (tr.attrs["data-account"].rsplit("/", 1)[-1], tr.attrs["data-model"]): _cells(tr)
        for tr in _body_rows(page, "reconciliation-accounts")
    }
    # account, model, computed tokens, computed, invoiced, variance, price, estimated, logs, unpriced, unallocated
    assert rows[("aoai-sweden", "gpt-4o")] == [
        "aoai-sweden", "gpt-4o", "750,000 (250,000 est.)", "2.88", "8.20", "5.33",
        "−0.58", "0.50", "0.40", "0.00", "5.00",
    ]  # fmt: skip
    assert rows[("aoai-us.openai.azure.com", "gpt-4o")][0] == "aoai-us not on the invoice"
    assert rows[("aoai-us.openai.azure.com", "gpt-4o")][6:9] == ["0.00", "0.00", "−0.03"]
    assert _cells(page.find(data_testid="totals")) == [
        "Total", "", "762,000", "7.90", "748.20", "740.30", "714.43", "0.50", "0.38", "0.00", "25.00",
    ]  # fmt: skip
    cards = {
        card.attrs["data-card"]: card.find(class_="value").text() for card in page.find_all(class_="card")
    }
    assert cards == {
        "invoiced": "USD 748.20",
        "computed": "USD 7.90",
        "variance": "USD 740.30",
        "unallocated": "USD 25.00",
    }
    reasons = [_cells(tr)[-1] for tr in _body_rows(page, "reconciliation-unallocated")]
    assert "batch: batch calls are not logged per request" in reasons
    assert len(_body_rows(page, "reconciliation-kinds")) == 9


def test_the_chart_is_drawn_from_json_by_the_vendored_plotly(client_for, finance_user):
    reconciliation_month()
    page = _page(client_for(finance_user))
    assert page.find(id="reconciliation-chart") is not None
    chart = json.loads(page.find("script", id="reconciliation-chart-data").text())
    assert chart["labels"][0] == "Computed" and chart["labels"][-1] == "Invoiced"
    assert chart["measures"] == ["absolute", *["relative"] * 5, "total"]
    assert chart["values"][:6] == [7.9, 714.43, 0.5, 0.38, 0.0, 25.0]
    sources = [
        s.attrs.get("src", "") for s in page.find_all("script") if s.attrs.get("type") != "application/json"
    ]
    assert all(sources), "no inline script (CSP)"
    assert any(re.search(r"vendor/plotly-finance\.min\.js$", src) for src in sources)
    assert any(src.endswith("js/reconciliation.js") for src in sources)


def test_a_month_with_nothing_shows_the_empty_state(client_for, admin_user):
    page = _page(client_for(admin_user))
    assert page.find(data_testid="status").attrs["data-status"] == "none"
    assert "No cost export covers March 2026" in page.text()
    assert page.find(data_testid="empty") is not None
    assert page.find(id="reconciliation-chart") is None


def test_finance_finds_it_in_the_navigation_and_a_reviewer_does_not(client_for, finance_user, reviewer_user):
    nav = _page(client_for(finance_user), "/reconciliation/").find("nav", aria_label="Main")
    assert nav.find("a", href="/reconciliation/").attrs.get("aria-current") == "page"
    assert client_for(reviewer_user).get(URL).status_code == 403
    reviewer_nav = _page(client_for(reviewer_user), "/latency/").find("nav", aria_label="Main")
    assert reviewer_nav.find("a", href="/reconciliation/") is None


def test_a_bad_month_is_a_400_page(client_for, finance_user):
    response = client_for(finance_user).get("/reconciliation/?month=2026-13")
    assert response.status_code == 400
    assert "is not a month" in response.content.decode()


def test_anonymous_and_people_without_a_role_are_refused(client, client_for, norole_user):
    response = client.get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client_for(norole_user).get(URL).status_code == 403
