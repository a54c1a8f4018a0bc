"""Bad parameters are refused with a clear 4xx (or a message on the page), never a 500."""

from datetime import date

import pytest

from aoai_portal.months import month_parse
from aoai_portal.params import MAX_OFFSET, ParamError, datetime_parse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("text", ["9999-12", "0001-01", "1999-12", "3000-01"])
def test_months_outside_the_sane_years_are_refused(text):
    with pytest.raises(ParamError, match="2000 to 2999"):
        month_parse(text)


def test_months_and_moments_inside_them_are_read():
    assert month_parse(" 2026-11 ") == date(2026, 11, 1)
    assert month_parse("2999-12") == date(2999, 12, 1)
    assert datetime_parse("2026-10-01T13:00:00+02:00", name="from").hour == 11
    with pytest.raises(ParamError, match="from must be a date"):
        datetime_parse("9999-12-31T23:00:00-05:00", name="from")  # past year 9999 once in UTC
    with pytest.raises(ParamError, match="2000 to 2999"):
        datetime_parse("9999-12-31", name="from")


@pytest.mark.parametrize("month", ["9999-12", "0001-01"])
@pytest.mark.parametrize("url", ["/chargeback/", "/chargeback/export.csv", "/quotas/"])
def test_pages_answer_400_with_the_reason(client_for, finance_user, url, month):
    response = client_for(finance_user).get(url, {"month": month})
    assert response.status_code == 400
    assert "2000 to 2999" in response.content.decode()


@pytest.mark.parametrize("url", ["/api/v1/chargeback?month=9999-12", "/api/v1/quotas?month=0001-01"])
def test_the_api_answers_4xx_with_the_reason(client_for, finance_user, url):
    response = client_for(finance_user).get(url)
    assert response.status_code in (400, 422)
    assert "2000 to 2999" in response.json()["detail"]


def test_the_latency_page_shows_a_far_date_as_a_message(client_for, finance_user):
    response = client_for(finance_user).get("/latency/", {"from": "9999-12-31"})
    assert response.status_code == 200
    assert "2000 to 2999" in response.content.decode()


def test_the_access_audit_page_refuses_a_far_date_on_the_form(client_for, admin_user):
    response = client_for(admin_user).get("/access-audit/", {"date_to": "9999-12-31"})
    assert response.status_code == 200
    assert "2000 to 2999" in response.content.decode()


def test_huge_offsets(client_for, admin_user):
    client = client_for(admin_user)
    flags = client.get("/api/v1/flags", {"offset": "99999999999999999999"})
    assert flags.status_code == 400 and str(MAX_OFFSET) in flags.json()["detail"]
    audit = client.get("/api/v1/access-audit", {"offset": "99999999999999999999"})
    assert audit.status_code == 200 and audit.json()["offset"] == MAX_OFFSET
    assert client.get("/api/v1/access-audit", {"date_to": "9999-12-31"}).status_code == 400


@pytest.mark.parametrize(
    "url",
    ["/requests/%00/", "/latency/?deployment=%00", "/review/?subscription=a%00b", "/api/v1/flags?rule=%00"],
)
def test_a_nul_character_is_refused_before_any_view(client_for, admin_user, url):
    response = client_for(admin_user).get(url)
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


def test_a_nul_character_in_a_posted_form_is_refused(client_for, admin_user):
    response = client_for(admin_user).post("/review/bulk/", {"item": "1", "action": "dismiss", "note": "x\x00"})
    assert response.status_code == 400


@pytest.mark.parametrize("query", ["_to_field=", "time__year=9999", "time__year=99999999999999999999"])
def test_the_admin_refuses_what_django_would_fail_on(client_for, admin_user, query):
    url = "/admin/audit/accessauditentry/" + ("1/change/" if query.startswith("_to") else "")
    assert client_for(admin_user).get(f"{url}?{query}").status_code == 400
