"""The API documentation and schema list every endpoint: portal roles only."""

import pytest

pytestmark = pytest.mark.django_db

DOCS = ["/api/docs", "/api/openapi.json"]


@pytest.mark.parametrize("url", DOCS)
def test_anonymous_is_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", DOCS)
def test_a_signed_in_user_without_a_role_is_refused(client_for, norole_user, url):
    assert client_for(norole_user).get(url).status_code == 403


@pytest.mark.parametrize("url", DOCS)
def test_a_portal_role_reads_them(client_for, finance_user, url):
    response = client_for(finance_user).get(url)
    assert response.status_code == 200
    if url.endswith(".json"):
        assert "/api/v1/chargeback" in response.json()["paths"]
