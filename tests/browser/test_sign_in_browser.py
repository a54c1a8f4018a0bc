"""Entra sign-in and sign-out in real Chromium, against the local OpenID Connect provider."""

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_finance_user_signs_in_with_entra_and_out_again_in_a_browser(live_server, new_page, entra):
    entra.profile(claims={"roles": ["Finance"], "name": "Alice Example"})
    visit = new_page()
    visit.page.goto(f"{live_server.url}/chargeback/")
    # Anonymous: sent to the sign-in page, then through Entra's authorize endpoint and back.
    visit.page.get_by_role("link", name="Sign in with Microsoft Entra ID").click()
    visit.page.wait_for_url(re.compile(r".*/chargeback/$"))
    assert visit.page.get_by_text("Alice Example").is_visible()
    assert visit.page.get_by_role("link", name="Chargeback").is_visible()
    visit.screenshot("entra-signed-in-finance")

    visit.page.get_by_role("button", name="Sign out").click()
    visit.page.wait_for_url(re.compile(r".*/accounts/logout/$"))
    assert visit.page.get_by_role("heading", name="Signed out").is_visible()
    visit.page.get_by_role("link", name="Also sign out of Microsoft Entra ID").click()
    # Entra's end-session sends the browser back to the portal's sign-in page.
    visit.page.wait_for_url(re.compile(r".*/accounts/login/$"))
    assert visit.page.get_by_role("heading", name="Sign in").is_visible()
    assert visit.console_errors == []


def test_a_tampered_token_shows_a_clear_page_in_a_browser(live_server, new_page, entra):
    entra.profile(claims={"roles": ["Admin"]}, tamper=True)
    visit = new_page()
    visit.page.goto(f"{live_server.url}/accounts/login/")
    visit.page.get_by_role("link", name="Sign in with Microsoft Entra ID").click()
    visit.page.wait_for_url(re.compile(r".*/oidc/callback/.*"))
    assert visit.page.get_by_role("heading", name="Sign-in failed").is_visible()
    visit.screenshot("entra-sign-in-refused")
    visit.page.goto(f"{live_server.url}/admin/")
    assert visit.page.get_by_role("heading", name="Sign in").is_visible()
