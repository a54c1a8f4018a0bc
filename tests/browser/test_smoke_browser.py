import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_page_renders_without_console_errors(live_server, new_page):
    visit = new_page()
    visit.page.goto(f"{live_server.url}/accounts/login/")
    assert visit.page.get_by_role("heading", name="Sign in").is_visible()
    visit.screenshot("sign-in")
    assert visit.console_errors == []


def test_plotly_is_served_locally(live_server, new_page):
    visit = new_page()
    response = visit.page.goto(f"{live_server.url}/static/vendor/plotly-finance.min.js")
    assert response.status == 200
    assert len(response.body()) > 1_000_000
